import { expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/cluster.ts";
import { scratchDirs } from "../helpers/scratch.ts";

// The systemd unit install.sh writes for an agent: rated by systemd's own offline analysis, and valid.
const dirs = scratchDirs("drover-unit-");

test.skipIf(!Bun.which("systemd-analyze")).each(["host", "sandbox"])(
  "the %s agent's unit is hardened (systemd-analyze security --offline below 5), verifies clean, and keeps the token off the command line",
  (executor) => {
    const root = dirs.fresh("unit");
    const prefix = join(root, "prefix");
    // verify wants the program the unit starts to exist
    mkdirSync(join(prefix, "bin"), { recursive: true });
    writeFileSync(join(prefix, "bin", "drover-agent"), "#!/bin/sh\n");
    chmodSync(join(prefix, "bin", "drover-agent"), 0o755);
    const printed = Bun.spawnSync([
      "sh",
      join(ROOT, "scripts/install.sh"),
      "--print-unit",
      "--prefix",
      prefix,
      "--work-dir",
      join(root, "work"),
      "--executor",
      executor,
    ]);
    expect(printed.exitCode).toBe(0);
    const unit = printed.stdout.toString();
    const file = join(root, "drover-agent.service");
    writeFileSync(file, unit);
    expect(unit).toContain("User=drover");
    expect(unit).toContain("KillMode=control-group");
    // a drained agent exits 0, and stays stopped
    expect(unit).toContain("Restart=on-failure");
    expect(unit).toMatch(/^ExecStart=.*--token-file \$\{CREDENTIALS_DIRECTORY\}\/agent-token/m);
    expect(unit).toContain(`LoadCredential=agent-token:${prefix}/etc/drover/agent.token`);
    expect(unit).toMatch(new RegExp(`^ExecStart=.* --executor ${executor}$`, "m"));
    // their masks in /proc would stop the sandbox mounting its own (the test below)
    expect(/^ProtectKernel(Tunables|Logs)=yes$/m.test(unit)).toBe(executor === "host");
    const security = Bun.spawnSync(["systemd-analyze", "security", "--offline=true", file], { stderr: "pipe" });
    const level = Number(security.stdout.toString().match(/Overall exposure level for drover-agent\.service: ([\d.]+)/)?.[1]);
    expect(level).toBeLessThan(5);
    const verify = Bun.spawnSync(["systemd-analyze", "verify", file], { stderr: "pipe" });
    expect(verify.stderr.toString()).toBe("");
    expect(verify.exitCode).toBe(0);
  },
);

test.skipIf(process.getuid?.() !== 0 || !Bun.which("bwrap"))(
  "why the sandbox's unit leaves out ProtectKernelTunables: with /proc/sys read-only as it makes it, an unprivileged bwrap cannot mount its /proc",
  () => {
    // as systemd does it for the unit: a mount namespace of the service's own, /proc/sys bound read-only in it
    const bwrap = "setpriv --reuid=nobody --regid=nogroup --clear-groups -- bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true";
    const masked = Bun.spawnSync(["unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && ${bwrap}`], { stderr: "pipe" });
    expect(masked.exitCode).not.toBe(0);
    expect(masked.stderr.toString()).toContain("Can't mount proc");
    const plain = Bun.spawnSync(["unshare", "--mount", "--propagation", "private", "sh", "-c", bwrap], { stderr: "pipe" });
    expect(`${plain.exitCode} ${plain.stderr}`).toBe("0 ");
  },
);
