import { dlopen, FFIType, ptr } from "bun:ffi";

type ListXattr = (path: ReturnType<typeof ptr>, list: ReturnType<typeof ptr> | null, size: number) => number | bigint;

let listXattr: ListXattr | null | undefined;

/** glibc's llistxattr(2) (Node's fs has no call for extended attributes); null where there is none. */
function llistxattr(): ListXattr | null {
  if (listXattr !== undefined) return listXattr;
  try {
    const symbols = { llistxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 } } as const;
    listXattr = process.platform === "linux" ? (dlopen("libc.so.6", symbols).symbols.llistxattr as ListXattr) : null;
  } catch {
    listXattr = null;
  }
  return listXattr;
}

const names = new Uint8Array(4096);

/**
 * Whether `path` itself (a symlink is not followed) carries an extended attribute a checkout would not give it: an
 * ACL or a `user.` attribute a step set. SELinux's label is not counted: every file made gets one.
 */
export function hasOwnAttributes(path: string): boolean {
  const list = llistxattr();
  if (!list) return false;
  const at = ptr(Buffer.from(`${path}\0`));
  const size = Number(list(at, ptr(names), names.length));
  // too many names for the buffer (ERANGE) if they are there at all; otherwise no support for them here
  if (size < 0) return Number(list(at, null, 0)) > 0;
  return new TextDecoder()
    .decode(names.subarray(0, size))
    .split("\0")
    .some((name) => name !== "" && name !== "security.selinux");
}
