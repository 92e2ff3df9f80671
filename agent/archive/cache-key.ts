import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";

export interface KeyContext {
  /** the work dir: `checksum` paths are relative to it */
  dir: string;
  arch: string;
  env: Record<string, string>;
  now?: Date;
}

const TEMPLATE = /\{\{(.*?)\}\}/g;
const CALL = /^\s*([a-z]+)(?:\s+"([^"]*)")?\s*$/;
const KNOWN = '{{ checksum "file" }}, {{ arch }}, {{ os }}, {{ env "NAME" }}, {{ year }}, {{ month }}, {{ day }}';

/** The file's real path when it lies inside the work dir (symlinks followed), else null. */
async function insideWorkDir(dir: string, file: string): Promise<string | null> {
  if (isAbsolute(file)) return null;
  const [root, path] = await Promise.all([realpath(dir), realpath(resolve(dir, file))]).catch(() => [null, null]);
  if (!root || !path) return resolve(dir, file);
  const rel = relative(root, path);
  return rel.startsWith("..") || isAbsolute(rel) ? null : path;
}

async function checksum(dir: string, file: string): Promise<string> {
  const path = await insideWorkDir(dir, file);
  if (path === null) throw new Error(`{{ checksum "${file}" }}: ${file} is outside the work dir`);
  // Any stat error, not only a missing file (Bun's throwIfNoEntry still throws ENOTDIR for "file/x"), means no file to hash.
  const isFile = await stat(path).then((s) => s.isFile(), () => false);
  if (!isFile) throw new Error(`{{ checksum "${file}" }}: ${file} is not a file in the work dir`);
  const hash = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hash.update(chunk);
  return hash.digest("hex");
}

const pad = (n: number) => String(n).padStart(2, "0");

async function expand(name: string, arg: string | undefined, ctx: KeyContext, now: Date): Promise<string | null> {
  const needsArg = name === "checksum" || name === "env";
  if (needsArg !== (arg !== undefined)) return null;
  switch (name) {
    case "checksum":
      return checksum(ctx.dir, arg as string);
    case "env": {
      // Unset would silently give every build the same key: say so instead.
      const value = ctx.env[arg as string];
      if (value === undefined) throw new Error(`{{ env "${arg}" }}: ${arg} is not set`);
      return value;
    }
    case "arch":
      return ctx.arch;
    case "os":
      return "linux";
    case "year":
      return String(now.getUTCFullYear());
    case "month":
      return pad(now.getUTCMonth() + 1);
    case "day":
      return pad(now.getUTCDate());
    default:
      return null;
  }
}

/** Renders a cache key template such as `deps-{{ arch }}-{{ checksum "bun.lock" }}`. */
export async function renderCacheKey(template: string, ctx: KeyContext): Promise<string> {
  const now = ctx.now ?? new Date();
  const fail = (why: string) => new Error(`cache key "${template}": ${why}`);
  let out = "";
  let literals = "";
  let last = 0;
  for (const match of template.matchAll(TEMPLATE)) {
    const call = CALL.exec(match[1] ?? "");
    const value = call ? await expand(call[1] ?? "", call[2], ctx, now).catch((e: Error) => Promise.reject(fail(e.message))) : null;
    if (value === null) throw fail(`unknown template ${match[0]} (known: ${KNOWN})`);
    literals += template.slice(last, match.index);
    out += template.slice(last, match.index) + value;
    last = match.index + match[0].length;
  }
  literals += template.slice(last);
  out += template.slice(last);
  if (literals.includes("{{") || literals.includes("}}")) throw fail("unbalanced {{ }}");
  if (out === "") throw fail("renders to an empty key");
  return out;
}
