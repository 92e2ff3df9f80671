import { isAbsolute } from "node:path";

/**
 * Whether a symlink in `linkDir` (a directory relative to the archive root; "" or "." is the
 * root) whose target is `target` resolves inside the root, judged from the text alone.
 *
 * Only leading `..` are allowed: a `..` after a name climbs from wherever that name resolves,
 * and a name can be a link (made earlier, or later by another entry), so `x/..` is not `.`
 * and text-level normalisation would be fooled by a chain such as `l -> d/l1/..`.
 */
export function linkStaysInside(linkDir: string, target: string): boolean {
  if (target === "" || isAbsolute(target)) return false;
  const depth = linkDir === "" || linkDir === "." ? 0 : linkDir.split("/").length;
  let ups = 0;
  let named = false;
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") named = true;
    else if (named) return false;
    else ups++;
  }
  return ups <= depth;
}
