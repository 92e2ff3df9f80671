// The stylesheet and the browser modules are imported as text (`with { type: "text" }`) so they
// travel inside the bundle: the browser gets them as they are written, with no build step.
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "*.mjs" {
  const text: string;
  export default text;
}

declare module "*.sh" {
  const text: string;
  export default text;
}

declare module "*.yml" {
  const text: string;
  export default text;
}
