// The stylesheet and the client script are imported as text (`with { type: "text" }`) so they
// travel inside the bundle: the browser gets them as they are written, with no build step.
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "*/client.js" {
  const text: string;
  export default text;
}
