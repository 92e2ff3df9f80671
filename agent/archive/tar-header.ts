/**
 * The tar header codec the agent's packer and extractor share: POSIX ustar blocks, with a
 * pax extended header in front when a name, a link target or a size does not fit (as GNU tar
 * and tar-stream write them); reading also accepts GNU long-name entries and base-256 sizes.
 */

export const BLOCK = 512;
const MAX_OCTAL_SIZE = 0o77777777777;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Entry types by their flag byte, named as tar-stream names them (error messages quote them). */
const TYPES: Record<string, string> = {
  "0": "file",
  "\0": "file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
  "7": "contiguous-file",
  x: "pax-header",
  g: "pax-global-header",
  L: "gnu-long-path",
  K: "gnu-long-link-path",
};
const FLAGS: Record<string, string> = { file: "0", symlink: "2", directory: "5", "pax-header": "x" };

export interface TarEntry {
  name: string;
  type: string;
  size: number;
  mode: number;
  /** seconds since the epoch */
  mtime: number;
  linkname: string;
}

export const paddingAfter = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

function writeString(block: Uint8Array, at: number, length: number, value: string): void {
  block.set(encoder.encode(value).subarray(0, length), at);
}

function writeOctal(block: Uint8Array, at: number, length: number, value: number): void {
  writeString(block, at, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
}

function checksum(block: Uint8Array): number {
  let sum = 8 * 0x20; // the checksum field itself counts as spaces
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i]!;
  return sum;
}

function ustarBlock(entry: TarEntry): Uint8Array {
  const block = new Uint8Array(BLOCK);
  writeString(block, 0, 100, entry.name);
  writeOctal(block, 100, 8, entry.mode & 0o7777);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, entry.size > MAX_OCTAL_SIZE ? 0 : entry.size);
  writeOctal(block, 136, 12, Math.max(0, Math.floor(entry.mtime)));
  block[156] = FLAGS[entry.type]!.charCodeAt(0);
  writeString(block, 157, 100, entry.linkname);
  writeString(block, 257, 8, "ustar\x0000");
  writeString(block, 148, 8, `${checksum(block).toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** One pax record, `"<length> <key>=<value>\n"`, where the length counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restBytes = encoder.encode(rest).length;
  let length = restBytes + 1;
  while (String(length).length + restBytes !== length) length = String(length).length + restBytes;
  return `${length}${rest}`;
}

/** The header block(s) of an entry: a pax header first when the ustar fields cannot hold it. */
export function encodeHeader(entry: TarEntry): Uint8Array {
  let records = "";
  if (encoder.encode(entry.name).length > 100) records += paxRecord("path", entry.name);
  if (encoder.encode(entry.linkname).length > 100) records += paxRecord("linkpath", entry.linkname);
  if (entry.size > MAX_OCTAL_SIZE) records += paxRecord("size", String(entry.size));
  const main = ustarBlock(entry);
  if (!records) return main;
  const data = encoder.encode(records);
  const pax = ustarBlock({ name: "PaxHeader", type: "pax-header", size: data.length, mode: 0o644, mtime: entry.mtime, linkname: "" });
  const out = new Uint8Array(BLOCK + data.length + paddingAfter(data.length) + BLOCK);
  out.set(pax, 0);
  out.set(data, BLOCK);
  out.set(main, out.length - BLOCK);
  return out;
}

function readString(block: Uint8Array, at: number, length: number): string {
  const field = block.subarray(at, at + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

/** Octal text, or base-256 when the top bit of the first byte is set (GNU tar's large sizes). */
function readNumber(block: Uint8Array, at: number, length: number): number {
  if (block[at]! & 0x80) {
    let value = block[at]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + block[at + i]!;
    return value;
  }
  const text = readString(block, at, length).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

export class CorruptArchiveError extends Error {}

/** Decodes one header block; null for a block of zeros, which ends the archive. */
export function decodeHeader(block: Uint8Array, offset: number): TarEntry | null {
  if (block.every((b) => b === 0)) return null;
  if (readNumber(block, 148, 8) !== checksum(block)) {
    throw new CorruptArchiveError(`not a valid tar archive: bad header checksum at byte ${offset}`);
  }
  const flag = String.fromCharCode(block[156]!);
  let name = readString(block, 0, 100);
  // POSIX ustar keeps long names' directories in `prefix`; GNU's "ustar  " uses that space for other things.
  const posix = readString(block, 257, 6) === "ustar";
  const prefix = posix ? readString(block, 345, 155) : "";
  if (prefix) name = `${prefix}/${name}`;
  return {
    name,
    type: TYPES[flag] ?? `unknown (${JSON.stringify(flag)})`,
    size: readNumber(block, 124, 12),
    mode: readNumber(block, 100, 8),
    mtime: readNumber(block, 136, 12),
    linkname: readString(block, 157, 100),
  };
}

/** The records of a pax extended header. */
export function decodePax(data: Uint8Array): Record<string, string> {
  const records: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = Number.parseInt(decoder.decode(data.subarray(at, space)), 10);
    if (space === -1 || !(length > 0) || at + length > data.length) throw new CorruptArchiveError("not a valid tar archive: malformed pax header");
    const record = decoder.decode(data.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    records[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return records;
}
