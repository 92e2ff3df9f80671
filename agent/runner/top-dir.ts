import { dlopen, FFIType, ptr } from "bun:ffi";
import { closeSync, constants, openSync } from "node:fs";

// <linux/fs.h>: the ioctls behind `lsattr` and `chattr`, and the flag `chattr +T` sets.
const FS_IOC_GETFLAGS = 0x80086601;
const FS_IOC_SETFLAGS = 0x40086602;
const FS_TOPDIR_FL = 0x00020000;

type Ioctl = (fd: number, request: number, arg: number) => number;

let ioctl: Ioctl | null | undefined;

function libcIoctl(): Ioctl | null {
  if (ioctl !== undefined) return ioctl;
  try {
    const libc = dlopen("libc.so.6", { ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 } });
    ioctl = (fd, request, arg) => libc.symbols.ioctl(fd, request, arg);
  } catch {
    ioctl = null;
  }
  return ioctl;
}

/**
 * Marks `dir` as the top of a directory hierarchy (`chattr +T`): ext2/3/4 then place each directory
 * made in it in a block group of its own choosing instead of next to `dir`. Attempt dirs are made and
 * deleted one after the other, with thousands of files each; ext4 without a journal skips inodes deleted
 * in the last minutes one lookup at a time, so a new attempt dir in the group its predecessor just left
 * paid for every file the predecessor had, on every file it made (0.3 ms a file after 2,000 deleted,
 * against 0.05 ms in another group). Returns whether the flag is set; other filesystems say no.
 */
export function markTopDir(dir: string): boolean {
  if (process.platform !== "linux") return false;
  const call = libcIoctl();
  if (!call) return false;
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return false;
  }
  try {
    // the kernel reads and writes an int; two leave room for a long
    const flags = new Int32Array(2);
    if (call(fd, FS_IOC_GETFLAGS, ptr(flags)) !== 0) return false;
    if (flags[0]! & FS_TOPDIR_FL) return true;
    flags[0]! |= FS_TOPDIR_FL;
    return call(fd, FS_IOC_SETFLAGS, ptr(flags)) === 0;
  } finally {
    closeSync(fd);
  }
}
