// When each line of a step log began, from the timestamps the agent recorded as it read the output
// (`offset ms` lines, fetched with ?timestamps=1): a line began at the time of the last record at or
// before its first byte.

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** `14:03:07.120`, in the viewer's time zone. */
export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function lineTimes() {
  const starts = [0]; // byte offset of each line's first byte
  let read = 0;
  const offsets = [];
  const times = [];
  let partial = "";
  return {
    /** Notes where lines start in the next bytes of the log. */
    bytes(chunk) {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) starts.push(read + i + 1);
      read += chunk.length;
    },
    /** Adds records from the next text of the timestamps stream; the offset lines from which times may have changed. */
    stamps(text) {
      const before = offsets.at(-1) ?? 0;
      const lines = (partial + text).split("\n");
      partial = lines.pop();
      for (const line of lines) {
        const m = line.match(/^(\d+) (\d+)$/);
        if (m) {
          offsets.push(Number(m[1]));
          times.push(Number(m[2]));
        }
      }
      return before;
    },
    /** The time line `n` (from 1) began, in ms since the epoch; undefined when not known (yet). */
    at(n) {
      const start = starts[n - 1];
      if (start === undefined || !offsets.length || offsets[0] > start) return undefined;
      let lo = 0;
      let hi = offsets.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (offsets[mid] <= start) lo = mid;
        else hi = mid - 1;
      }
      return times[lo];
    },
    /** The first line (from 1) starting at or after byte `offset`. */
    lineFrom(offset) {
      let lo = 0;
      let hi = starts.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (starts[mid] < offset) lo = mid + 1;
        else hi = mid;
      }
      return lo + 1;
    },
    get lines() {
      return starts.length;
    },
  };
}
