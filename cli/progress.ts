export interface Progress {
  add(bytes: number): void;
  done(): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
}

const REDRAW_MS = 100;
const WIDTH = 30;
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** A one-line byte progress bar; drawn only on a terminal, so logs and pipes stay clean. */
export function progressBar({ label, total }: ProgressOptions): Progress {
  const stream = process.stderr;
  if (!stream.isTTY) return { add() {}, done() {} };
  let current = 0;
  let drawnAt = 0;
  const draw = () => {
    const fraction = total > 0 ? Math.min(1, current / total) : 1;
    const filled = Math.round(fraction * WIDTH);
    const bar = "#".repeat(filled) + "-".repeat(WIDTH - filled);
    stream.write(`\r${label} [${bar}] ${Math.floor(fraction * 100)}% ${mb(current)}/${mb(total)} MB`);
  };
  return {
    add(bytes) {
      current += bytes;
      if (Date.now() - drawnAt < REDRAW_MS) return;
      drawnAt = Date.now();
      draw();
    },
    done() {
      draw();
      stream.write("\n");
    },
  };
}
