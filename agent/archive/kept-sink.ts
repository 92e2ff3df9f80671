import { lstatSync, realpathSync } from "node:fs";
import { EntryWriter, HostileArchiveError, type TarEntry } from "./entry-writer.ts";
import type { EntrySink } from "./extract.ts";
import type { Keeping, KeptEntry } from "./kept.ts";

/**
 * Writes an archive's entries as a kept copy (kept.ts) rather than as a tree: each file's content as
 * `<dir>/<index>`, every entry recorded in archive order, directories and symlinks only recorded. Nothing
 * here lands by the entry's name, so a hostile name harms nothing yet: a restore places the copy through
 * the extractor's checks (adoptKept), as it would the archive. `room` is asked before each file's bytes
 * are written, and refusing fails the whole copy.
 */
export class KeptSink implements EntrySink {
  private readonly writer: EntryWriter;
  private file = false;

  constructor(
    private readonly keeping: Keeping,
    private readonly room: (bytes: number) => boolean,
  ) {
    this.writer = new EntryWriter(realpathSync(keeping.dir));
  }

  async begin(entry: TarEntry): Promise<void> {
    const index = this.keeping.entries.length;
    const type = entry.type === "contiguous-file" ? "file" : entry.type;
    if (type !== "file" && type !== "directory" && type !== "symlink") {
      throw new HostileArchiveError(`refused archive entry "${entry.name}": entries of type ${entry.type} are not allowed`);
    }
    this.keeping.entries.push({ name: entry.name, type, mode: entry.mode, size: entry.size, linkname: entry.linkname });
    this.file = type === "file";
    if (!this.file) return;
    if (!this.room(entry.size)) throw new Error("it is larger than this agent keeps");
    this.keeping.bytes += entry.size;
    await this.writer.begin({ ...entry, type: "file", name: String(index) });
  }

  write(data: Uint8Array): void {
    if (this.file) this.writer.write(data);
  }

  end(): void {
    if (this.file) this.writer.end();
    this.file = false;
  }

  /** Every file on disk, each recorded with the inode it is now, as a restore will check it. */
  async finish(): Promise<void> {
    await this.writer.finish();
    for (const [i, entry] of this.keeping.entries.entries()) {
      if (entry.type !== "file") continue;
      const st = lstatSync(this.keeping.path(i), { bigint: true });
      (entry as KeptEntry).ino = st.ino;
      entry.mtimeNs = st.mtimeNs;
    }
  }
}
