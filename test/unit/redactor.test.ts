import { expect, test } from "bun:test";
import fc from "fast-check";
import { Redactor, secretValues } from "../../agent/logs/redactor.ts";

const run = (secrets: string[], chunks: string[]) => {
  const r = new Redactor(secrets);
  const parts = chunks.map((c) => Buffer.from(r.push(Buffer.from(c))).toString());
  return parts.join("") + Buffer.from(r.flush()).toString();
};

test("secrets are replaced, also when split across chunks", () => {
  expect(run(["hunter2"], ["pass=hun", "ter2 ok\n"])).toBe("pass=[REDACTED] ok\n");
  expect(run(["hunter2"], ["h", "u", "n", "t", "e", "r", "2"])).toBe("[REDACTED]");
  expect(run(["abc", "abcdef"], ["xxabcdefyy abc"])).toBe("xx[REDACTED]yy [REDACTED]");
});

test("output that cannot start a secret is not held back", () => {
  const r = new Redactor(["hunter2"]);
  expect(Buffer.from(r.push(Buffer.from("hello\n"))).toString()).toBe("hello\n");
  expect(Buffer.from(r.push(Buffer.from("a hun"))).toString()).toBe("a ");
  expect(Buffer.from(r.flush()).toString()).toBe("hun");
});

test("secret env names and marked values are collected; tiny values are ignored", () => {
  expect(secretValues({ API_TOKEN: "tok123", DB_PASSWORD: "pw9999", PATH: "/bin", X_KEY: "ab" }, ["marked1"]).sort()).toEqual(
    ["marked1", "pw9999", "tok123"].sort(),
  );
});

test("however the stream is split, the secret never appears and other bytes are kept", () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.array(fc.nat(), { maxLength: 6 }), (before, after, cuts) => {
      const secret = "s3cr3t-value";
      const text = `${before}${secret}${after}`;
      const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      const chunks: string[] = [];
      let last = 0;
      for (const p of points) {
        chunks.push(text.slice(last, p));
        last = p;
      }
      chunks.push(text.slice(last));
      const out = run([secret], chunks);
      expect(out).not.toContain(secret);
      expect(out).toBe(text.replaceAll(secret, "[REDACTED]"));
    }),
  );
});
