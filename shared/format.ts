/** A byte count for people: 512 B, 3.4 MiB. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** A project's runs go by `project #N`, the others by id. */
export const runLabel = (run: { id: string; project: string | null; number: number | null }) =>
  run.project && run.number !== null ? `${run.project} #${run.number}` : run.id;
