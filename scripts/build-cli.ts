// Compiles the drover command (client verbs and `drover serve`) into one binary for this machine's
// arch, dist/drover-linux-<arch> with its sha256: the coordinator serves both under /download.
// libsql picks its native addon with a computed require, which a bundler cannot follow:
// the plugin names this platform's addon outright so it is embedded.
const arch = process.arch === "arm64" ? "arm64" : "amd64";
const native = `@libsql/linux-${process.arch === "arm64" ? "arm64" : "x64"}-gnu`;
const outfile = `dist/drover-linux-${arch}`;

const result = await Bun.build({
  entrypoints: ["cli/main.ts"],
  compile: { outfile },
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
const sum = new Bun.CryptoHasher("sha256").update(await Bun.file(outfile).arrayBuffer()).digest("hex");
await Bun.write(`${outfile}.sha256`, `${sum}\n`);
console.log(outfile);
export {};
