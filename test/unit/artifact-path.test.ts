import { expect, test } from "bun:test";
import { checkArtifactPath } from "../../coordinator/objects/archive-keys.ts";
import { DroverError } from "../../shared/errors.ts";

/** The 400's message, or null when the path is kept. */
const refusal = (path: string) => {
  try {
    checkArtifactPath(path);
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(DroverError);
    expect((e as DroverError).code).toBe("bad_request");
    return (e as Error).message;
  }
};

test("an artifact path is kept when every store can keep it: relative, no NUL, 900 bytes in all, 255 per name", () => {
  for (const ok of ["dist/app.tgz", "a b/ü.txt", "line\nbreak.log", `${"d/".repeat(300)}f`, "n".repeat(255)])
    expect(refusal(ok)).toBeNull();
  expect(refusal("/etc/passwd")).toContain("must be relative");
  expect(refusal("a/../b")).toContain("without . or .. segments");
  expect(refusal("a\0b")).toContain("NUL");
  expect(refusal("ü".repeat(451))).toContain("902 bytes long, more than the 900 allowed");
  expect(refusal(`d/${"n".repeat(256)}`)).toContain("a name longer than 255 bytes");
  // a long path is not echoed whole
  expect(refusal("x".repeat(5000))!.length).toBeLessThan(200);
});
