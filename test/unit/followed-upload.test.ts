import { describe, expect, test } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { followedStream } from "../../coordinator/store/uncached-stream.ts";
import { FollowedUpload } from "../../coordinator/fleet/followed-upload.ts";
import { waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { fresh } = scratchDirs("drover-followed-");

/** An upload's file, opened for a follower as the store makes it. */
function upload(): { file: string; followed: FollowedUpload; ended: () => boolean } {
  const file = join(fresh("upload"), "tmp");
  writeFileSync(file, "");
  let done = false;
  const followed = new FollowedUpload(() => {
    done = true;
  });
  followed.opened(file);
  return { file, followed, ended: () => done };
}

const piece = (n: number, size: number) => new Uint8Array(size).fill(n);

describe("a followed upload", () => {
  test("the follower gets every byte as the file grows, and the body ends once the upload is stored", async () => {
    const { file, followed, ended } = upload();
    const body = new Response(followedStream(followed.take()!, followed)).arrayBuffer();
    const pieces = [piece(1, 3 << 20), piece(2, 100), piece(3, 2 << 20)];
    for (const p of pieces) {
      appendFileSync(file, p);
      await Bun.sleep(30);
    }
    followed.stored(pieces.reduce((n, p) => n + p.length, 0));
    expect(new Uint8Array(await body)).toEqual(new Uint8Array(Buffer.concat(pieces)));
    await waitFor("the follower to end", ended);
    expect(followed.take()).toBeNull();
  });

  test("a slow follower over HTTP gets every byte in order", async () => {
    const { file, followed } = upload();
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () => new Response(followedStream(followed.take()!, followed)),
    });
    try {
      // unaligned pieces of distinct bytes, so that a block read at the wrong offset shows
      const pieces = Array.from({ length: 12 }, (_, i) => new Uint8Array((1 << 20) + 4099 * i).map((_, j) => (i * 31 + j) % 251));
      // the response's head goes with its first bytes
      const responded = fetch(server.url);
      const received: Uint8Array[] = [];
      const reading = (async () => {
        const reader = (await responded).body!.getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          received.push(r.value);
          await Bun.sleep(2);
        }
      })();
      for (const p of pieces) appendFileSync(file, p);
      followed.stored(pieces.reduce((n, p) => n + p.length, 0));
      await reading;
      expect(Buffer.concat(received).equals(Buffer.concat(pieces))).toBe(true);
    } finally {
      await server.stop(true);
    }
  });

  test("a failed upload breaks the body off", async () => {
    const { file, followed, ended } = upload();
    const body = new Response(followedStream(followed.take()!, followed)).arrayBuffer();
    appendFileSync(file, piece(1, 2 << 20));
    await Bun.sleep(30);
    followed.failed(new Error("the agent went away"));
    await expect(body).rejects.toThrow();
    await waitFor("the follower to end", ended);
  });

  test("an upload nobody follows lets go of its file when it fails", () => {
    const { followed, ended } = upload();
    followed.failed(new Error("too large"));
    expect(ended()).toBe(true);
    expect(followed.take()).toBeNull();
  });
});
