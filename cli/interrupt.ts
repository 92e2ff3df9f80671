import type { Client } from "./client.ts";
import { runUrl } from "./run-report.ts";

export type Choice = "cancel" | "detach" | "continue";

/** One key at the terminal: c cancels, d (or a second Ctrl-C) detaches, anything else goes on following. */
function ask(question: string): Promise<Choice> {
  const stdin = process.stdin;
  process.stdout.write(question);
  return new Promise((resolve) => {
    stdin.setRawMode(true);
    stdin.resume();
    stdin.once("data", (data: Buffer) => {
      stdin.setRawMode(false);
      stdin.pause();
      const key = data.toString().toLowerCase();
      process.stdout.write("\n");
      resolve(key.startsWith("c") ? "cancel" : key.startsWith("d") || key === "\x03" ? "detach" : "continue");
    });
  });
}

/**
 * While a run is followed, Ctrl-C asks whether to cancel the run or detach from it (at a terminal;
 * elsewhere nobody can answer, so it detaches, which loses nothing) and says which it did.
 */
export function askOnInterrupt(client: Client, run: string): () => void {
  let asking = false;
  const url = runUrl(client.url, run);
  const onInterrupt = async () => {
    if (asking) return;
    asking = true;
    const choice: Choice = process.stdin.isTTY
      ? await ask(`\nCtrl-C: [c]ancel run ${run}, [d]etach and leave it running, or any other key to keep following? `)
      : "detach";
    if (choice === "detach") {
      console.log(`detached: run ${run} goes on (${url}); \`drover logs ${run} -f\` follows it, \`drover cancel ${run}\` stops it`);
      process.exit(130);
    }
    if (choice === "cancel") {
      try {
        await client.json("POST", `/api/v1/runs/${encodeURIComponent(run)}/cancel`);
        console.log(`cancelling run ${run}: its running steps are stopped; following it to the end`);
      } catch (e) {
        console.log(`could not cancel run ${run}: ${(e as Error).message}`);
      }
    }
    asking = false;
  };
  process.on("SIGINT", onInterrupt);
  return () => process.off("SIGINT", onInterrupt);
}
