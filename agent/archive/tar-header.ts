/**
 * Tar headers as tar-stream wrote them for us before: a ustar block, after a pax header for what ustar
 * cannot hold (a name or link target too long for its fields, or not ASCII). Packing writes its own
 * headers so that file content is read straight into the archive's frames (pack.ts), with no stream
 * of tar between; tar-stream and GNU tar read the result.
 */

export const TAR_BLOCK = 512;

export interface TarHeaderFields {
  name: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  mtime: Date;
  /** bytes of content (files only) */
  size: number;
  linkname?: string;
}

const TYPEFLAGS = { file: "0", symlink: "2", directory: "5", pax: "x" } as const;
/** The largest size the 12-byte field holds in octal; larger sizes go in base 256, as GNU tar writes them. */
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

const encoder = new TextEncoder();
const isAscii = (s: string) => Buffer.byteLength(s) === s.length;

/** `value` as `digits` octal digits and a space (what tar-stream wrote; GNU tar reads it). */
const octal = (value: number, digits: number) => `${Math.max(0, Math.floor(value)).toString(8).padStart(digits, "0")} `;

function writeAscii(block: Uint8Array, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) block[at + i] = text.charCodeAt(i);
}

/** ustar's name and prefix for `name`, or null if they cannot hold it. */
function ustarName(name: string): { name: string; prefix: string } | null {
  if (!isAscii(name)) return null;
  let rest = name;
  let prefix = "";
  while (rest.length > 100) {
    const slash = rest.indexOf("/");
    if (slash === -1) return null;
    prefix += (prefix ? "/" : "") + rest.slice(0, slash);
    rest = rest.slice(slash + 1);
  }
  return prefix.length > 155 ? null : { name: rest, prefix };
}

function ustarBlock(fields: { name: string; prefix: string; typeflag: string; mode: number; mtime: Date; size: number; linkname: string }): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK);
  writeAscii(block, 0, fields.name);
  writeAscii(block, 100, octal(fields.mode & 0o7777, 6));
  writeAscii(block, 108, octal(0, 6));
  writeAscii(block, 116, octal(0, 6));
  if (fields.size <= MAX_OCTAL_SIZE) writeAscii(block, 124, octal(fields.size, 11));
  else {
    block[124] = 0x80;
    for (let i = 11, left = fields.size; i > 0; i--, left = Math.floor(left / 256)) block[124 + i] = left % 256;
  }
  writeAscii(block, 136, octal(Math.min(fields.mtime.getTime() / 1000, MAX_OCTAL_SIZE), 11));
  writeAscii(block, 156, fields.typeflag);
  writeAscii(block, 157, fields.linkname);
  writeAscii(block, 257, "ustar\x0000");
  writeAscii(block, 329, octal(0, 6));
  writeAscii(block, 337, octal(0, 6));
  writeAscii(block, 345, fields.prefix);
  // the checksum counts its own field as spaces
  let sum = 8 * 32;
  for (let i = 0; i < TAR_BLOCK; i++) if (i < 148 || i >= 156) sum += block[i]!;
  writeAscii(block, 148, octal(sum, 6));
  return block;
}

/** A pax record: its length in decimal (counting itself), the key and value. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = encoder.encode(body).length;
  let length = bytes + String(bytes).length;
  if (String(length).length !== String(bytes).length) length++;
  return `${length}${body}`;
}

/** The header blocks of an entry: its ustar block, after a pax header and its records when needed. */
export function tarHeader(entry: TarHeaderFields): Uint8Array {
  const linkname = entry.linkname ?? "";
  const typeflag = TYPEFLAGS[entry.type];
  const named = ustarName(entry.name);
  if (named && linkname.length <= 100 && isAscii(linkname)) {
    return ustarBlock({ ...named, typeflag, mode: entry.mode, mtime: entry.mtime, size: entry.size, linkname });
  }
  const records = encoder.encode(paxRecord("path", entry.name) + (linkname ? paxRecord("linkpath", linkname) : ""));
  const padded = Math.ceil(records.length / TAR_BLOCK) * TAR_BLOCK;
  const blocks = new Uint8Array(2 * TAR_BLOCK + padded);
  const common = { name: "PaxHeader", prefix: "", mode: entry.mode, mtime: entry.mtime, linkname: linkname && "PaxHeader" };
  blocks.set(ustarBlock({ ...common, typeflag: TYPEFLAGS.pax, size: records.length }));
  blocks.set(records, TAR_BLOCK);
  blocks.set(ustarBlock({ ...common, typeflag, size: entry.size }), TAR_BLOCK + padded);
  return blocks;
}
