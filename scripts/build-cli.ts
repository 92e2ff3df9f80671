// Compiles the drover command (client verbs and `drover serve`) into one binary per arch,
// dist/drover-linux-<arch> with its sha256: the coordinator serves them under /download.
// Arguments pick the archs (amd64, arm64); the default is both.
// libsql picks its native addon with a computed require, which a bundler cannot follow: the plugin
// names the target's addon outright so it is embedded (scripts/setup installs every arch's addon).
const ARCHS = { amd64: "x64", arm64: "arm64" } as const;
type Arch = keyof typeof ARCHS;

const wanted = process.argv.slice(2);
for (const arch of wanted) if (!(arch in ARCHS)) throw new Error(`build-cli: unknown arch ${arch} (amd64 or arm64)`);
const archs = (wanted.length ? wanted : Object.keys(ARCHS)) as Arch[];

async function build(arch: Arch): Promise<void> {
  const native = `@libsql/linux-${ARCHS[arch]}-gnu`;
  const outfile = `dist/drover-linux-${arch}`;
  const result = await Bun.build({
    // the WAL checkpointer and the page-cache calls run in Workers (coordinator/db/background-checkpoints.ts,
    // coordinator/store/page-cache-calls.ts): their files must be in the binary
    entrypoints: ["cli/main.ts", "coordinator/db/checkpointer.ts", "coordinator/store/page-cache-worker.ts"],
    compile: { outfile, target: `bun-linux-${ARCHS[arch]}` },
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
}

for (const arch of archs) await build(arch);
export {};
