/**
 * A counter of bytes passed through JavaScript that runs a full garbage collection every
 * `everyBytes`. Large bodies streamed as chunks leave the chunks as garbage that the runtime
 * collects late, so RSS climbs by a hundred MiB or more; a minor collection does not free them.
 */
export function collectingEvery(everyBytes: number): (bytes: number) => void {
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    Bun.gc(true);
  };
}
