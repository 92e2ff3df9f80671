import { readdirSync, readFileSync } from "node:fs";

/** The token and the basic-auth header values a client would build from it: what a leak check looks for. */
export function tokenForms(token: string): string[] {
  return [token, ...["", "x-access-token", "oauth2", "git", "x"].map((u) => Buffer.from(`${u}:${token}`).toString("base64"))];
}

/** Samples every process's command line (every 2 ms) until stopped; returns those that held any of `needles`. */
export function sampleCmdlines(needles: string[]): { stop(): string[] } {
  const leaks = new Set<string>();
  let running = true;
  void (async () => {
    while (running) {
      for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
          if (needles.some((n) => cmd.includes(n))) leaks.add(cmd);
        } catch {
          // gone already
        }
      }
      await Bun.sleep(2);
    }
  })();
  return {
    stop() {
      running = false;
      return [...leaks];
    },
  };
}

/**
 * A step script that looks for the token where a step could find it (as ../shared/checks/repositories does):
 * its environment, every process's arguments and environment, every file under the work dir (the clone's
 * .git too); prints `LEAK: …` per find and `CHECKED` at the end. The token never appears whole in the
 * script's own text (it is split), so the step's own command line holds no copy of it.
 */
export function leakCheckScript(token: string): string {
  return `pat="$(printf '%s' '${token.slice(0, 10)}')$(printf '%s' '${token.slice(10)}')"
echo "head=$(git rev-parse HEAD) origin=$(git remote get-url origin)"
case "$(env)" in *"$pat"*) echo "LEAK: env";; esac
for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do grep -qaFf - "$f" <<<"$pat" 2>/dev/null && echo "LEAK: $f"; done
{ grep -rlaFf - . <<<"$pat" || true; } | sed 's/^/LEAK: file /'
echo CHECKED`;
}
