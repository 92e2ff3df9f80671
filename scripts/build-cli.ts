// Compiles the drover command (client verbs and `drover serve`) into one binary, dist/drover.
// libsql picks its native addon with a computed require, which a bundler cannot follow:
// the plugin names this platform's addon outright so it is embedded.
const native = `@libsql/linux-${process.arch === "arm64" ? "arm64" : "x64"}-gnu`;

const result = await Bun.build({
  entrypoints: ["cli/main.ts"],
  compile: { outfile: "dist/drover" },
  plugins: [
    {
      name: "libsql-native",
      setup(build) {
        build.onLoad({ filter: /node_modules\/libsql\/index\.js$/ }, async ({ path }) => ({
          contents: (await Bun.file(path).text()).replace("require(`@libsql/${target}`)", `require(${JSON.stringify(native)})`),
          loader: "js",
        }));
      },
    },
  ],
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log("dist/drover");
export {};
