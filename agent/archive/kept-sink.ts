import { lstatSync, realpathSync } from "node:fs";
import type { CopyProgress } from "./copy-progress.ts";
import { EntryWriter, HostileArchiveError, type TarEntry } from "./entry-writer.ts";
import type { EntrySink } from "./extract.ts";
import type { Keeping } from "./keeping.ts";

/**
 * Writes an archive's entries as a kept copy (kept.ts) rather than as a tree: each file's content as
 * `<dir>/<index>`, every entry recorded in archive order, directories and symlinks only recorded. Nothing
 * here lands by the entry's name, so a hostile name harms nothing yet: a restore places the copy through
 * the extractor's checks (adoptKept), as it would the archive. `room` is asked before each file's bytes
 * are written, and refusing fails the whole copy. Each entry is told to `progress` once it is on disk, a
 * file with the inode it is then, as a restore will check it.
 */
export class KeptSink implements EntrySink {
  private readonly writer: EntryWriter;
  /** the index of the file being written, if one is */
  private file: number | null = null;
  /** files whose content is still being written */
  private readonly pending = new Set<Promise<void>>();
  private failure: Error | null = null;

  constructor(
    private readonly keeping: Keeping,
    private readonly room: (bytes: number) => boolean,
    private readonly progress: CopyProgress,
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
    if (type !== "file") return this.progress.written(index);
    if (!this.room(entry.size)) throw new Error("it is larger than this agent keeps");
    this.keeping.bytes += entry.size;
    await this.writer.begin({ ...entry, type: "file", name: String(index) });
    this.file = index;
  }

  write(data: Uint8Array): void {
    if (this.file !== null) this.writer.write(data);
  }

  end(): void {
    const index = this.file;
    this.file = null;
    if (index === null) return;
    const done: Promise<void> = this.writer
      .end()
      .then((ok) => {
        if (ok) this.settled(index);
      })
      .catch((e: Error) => {
        this.failure ??= e;
      })
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  /** File `index` is on disk: recorded with its inode, and ready to move. */
  private settled(index: number): void {
    const st = lstatSync(this.keeping.path(index), { bigint: true });
    const entry = this.keeping.entries[index]!;
    entry.ino = st.ino;
    entry.mtimeNs = st.mtimeNs;
    this.progress.written(index);
  }

  /** Every file on disk and recorded, or the first error. */
  async finish(): Promise<void> {
    try {
      await this.writer.finish();
    } finally {
      await Promise.all(this.pending);
    }
    if (this.failure) throw this.failure;
  }
}
