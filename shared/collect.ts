import { fullGC } from "bun:jsc";

/**
 * A counter of bytes passed through JavaScript that runs a full garbage collection every
 * `everyBytes`. Large bodies streamed as chunks leave the chunks as garbage that the runtime
 * collects late, so RSS climbs by a hundred MiB or more; a minor collection does not free them.
 * `fullGC` rather than `Bun.gc(true)`: the latter also makes the allocator hand the freed memory
 * back to the system at once, and taking it again costs a page fault per 4 KiB (a GiB packed paid
 * 180,000 of them); after `fullGC` the next chunks reuse it, and the allocator returns it once idle.
 */
export function collectingEvery(everyBytes: number): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    fullGC();
  };
}
