import type { TCPSocketListener } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { extractArchive } from "../../agent/archive/extract.ts";
import { chunkReturn, packArchive } from "../../agent/archive/pack.ts";
import { type SocketRequest, socketRequest } from "../../agent/archive/socket-http.ts";

const socketGet = (url: string, opts: Omit<SocketRequest, "method">) => socketRequest(url, { method: "GET", ...opts });

// Archive downloads read the coordinator's answer straight off the socket: every byte of a chunked or
// sized body in order, errors answered as fetch answers them, a cut body failing its reader, and no
// more read ahead than the reader takes.

const MiB = 1024 * 1024;

function pattern(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed + (i >> 13)) & 0xff;
  return bytes;
}

const big = pattern(9 * MiB + 123, 7);
let pulled = 0;
let received = new Uint8Array(0);
let server: ReturnType<typeof Bun.serve>;
let base = "";

beforeAll(() => {
  server = Bun.serve({
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/chunked") {
        // pieces of uneven sizes, as a stream: the answer is chunked
        let at = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(c) {
              if (at >= big.length) return c.close();
              const n = Math.min(big.length - at, 1 + ((at * 7) % (700 * 1024)));
              c.enqueue(big.slice(at, at + n));
              at += n;
            },
          }),
        );
      }
      if (path === "/sized") return new Response(big.slice(0, 3 * MiB + 5));
      if (path === "/upload") {
        return req.arrayBuffer().then((bytes) =>
          Response.json({
            sha: new Bun.CryptoHasher("sha1").update(bytes).digest("hex"),
            type: req.headers.get("content-type"),
          }),
        );
      }
      if (path === "/slow") {
        // reads with pauses, so that the socket fills and the sender queues what it wrote
        return (async () => {
          const parts: Uint8Array[] = [];
          for await (const part of req.body!) {
            parts.push(part.slice());
            if (parts.length % 8 === 0) await Bun.sleep(10);
          }
          received = new Uint8Array(Buffer.concat(parts));
          return Response.json({ bytes: received.length });
        })();
      }
      if (path === "/refuse") return Response.json({ error: { code: "too_large", message: "no" } }, { status: 413 });
      if (path === "/headers")
        return Response.json({ auth: req.headers.get("authorization"), agent: req.headers.get("x-drover-agent") });
      if (path === "/missing") return Response.json({ error: { code: "not_found", message: "no such object" } }, { status: 404 });
      if (path === "/endless") {
        pulled = 0;
        const piece = new Uint8Array(MiB);
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(c) {
              if (pulled >= 256 * MiB) return c.close();
              pulled += piece.length;
              c.enqueue(piece);
            },
          }),
        );
      }
      return new Response("?", { status: 400 });
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(() => server.stop(true));

async function bytesOf(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

test("a chunked body comes whole and in order", async () => {
  const res = await socketGet(`${base}/chunked`, { headers: {} });
  expect(res.status).toBe(200);
  expect(Buffer.from(await bytesOf(res)).equals(Buffer.from(big))).toBe(true);
});

test("a sized body comes whole", async () => {
  const res = await socketGet(`${base}/sized`, { headers: {} });
  expect(Buffer.from(await bytesOf(res)).equals(Buffer.from(big.subarray(0, 3 * MiB + 5)))).toBe(true);
});

test("the request carries the headers given", async () => {
  const res = await socketGet(`${base}/headers`, { headers: { authorization: "Bearer t0k", "x-drover-agent": "a1" } });
  expect(await res.json()).toEqual({ auth: "Bearer t0k", agent: "a1" });
});

test("an error answer is a response with its status and body, as fetch's is", async () => {
  const res = await socketGet(`${base}/missing`, { headers: {} });
  expect(res.status).toBe(404);
  expect(res.ok).toBe(false);
  expect(await res.json()).toEqual({ error: { code: "not_found", message: "no such object" } });
});

test("no answer rejects: a refused connection, a signal already aborted", async () => {
  const closed = Bun.serve({ port: 0, fetch: () => new Response("") });
  const port = closed.port;
  closed.stop(true);
  await expect(socketGet(`http://127.0.0.1:${port}/x`, { headers: {} })).rejects.toThrow();
  const signal = AbortSignal.abort(new Error("stopped"));
  await expect(socketGet(`${base}/sized`, { headers: {}, signal })).rejects.toThrow("stopped");
});

/** `total` bytes of `big` in pieces of uneven sizes; `cancelled` says whether the reader cancelled it. */
function uploadBody(total: number, failAt = Number.POSITIVE_INFINITY) {
  let at = 0;
  const state = { cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= failAt) return c.error(new Error("the packer failed"));
      if (at >= total) return c.close();
      const n = Math.min(total - at, 1 + ((at * 13) % (900 * 1024)));
      c.enqueue(big.slice(at % big.length, (at % big.length) + n));
      at += n;
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { body, state };
}

describe("a request body", () => {
  test("is sent whole and in order, chunked", async () => {
    const { body } = uploadBody(big.length);
    const res = await socketRequest(`${base}/upload`, { method: "PUT", headers: { "content-type": "application/zstd" }, body });
    expect(await res.json()).toEqual({ sha: new Bun.CryptoHasher("sha1").update(big).digest("hex"), type: "application/zstd" });
  });

  test("of a packed archive, its chunks given back to the packer as they are sent, arrives intact", async () => {
    const src = mkdtempSync(join(tmpdir(), "drover-socket-pack-"));
    try {
      // stored frames (random bytes) are the chunks given back and filled again
      const files = {
        "a.bin": pattern(5 * MiB + 3, 1),
        "b.bin": crypto.getRandomValues(new Uint8Array(65536)),
        "c.bin": pattern(7 * MiB, 2),
      };
      for (const [name, bytes] of Object.entries(files)) writeFileSync(join(src, name), bytes);
      writeFileSync(
        join(src, "r.bin"),
        Buffer.concat(Array.from({ length: 384 }, () => crypto.getRandomValues(new Uint8Array(65536)))),
      );
      const { body } = packArchive(src, ["a.bin", "b.bin", "c.bin", "r.bin"]);
      const res = await socketRequest(`${base}/slow`, { method: "PUT", headers: {}, body, sent: chunkReturn(body)! });
      expect(res.status).toBe(200);
      const dest = join(src, "out");
      expect(await extractArchive(new Blob([received]).stream(), dest)).toBe(4);
      for (const name of ["a.bin", "b.bin", "c.bin", "r.bin"])
        expect(readFileSync(join(dest, name)).equals(readFileSync(join(src, name)))).toBe(true);
    } finally {
      rmSync(src, { recursive: true, force: true });
    }
  });

  test("is cancelled when the answer comes first", async () => {
    const { body, state } = uploadBody(256 * MiB);
    const res = await socketRequest(`${base}/refuse`, { method: "PUT", headers: {}, body });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: { code: "too_large", message: "no" } });
    expect(state.cancelled).toBe(true);
  });

  test("that fails fails the request with its error", async () => {
    const { body } = uploadBody(big.length, 2 * MiB);
    await expect(socketRequest(`${base}/upload`, { method: "PUT", headers: {}, body })).rejects.toThrow("the packer failed");
  });
});

describe("a body cut short", () => {
  let raw: TCPSocketListener;
  beforeAll(() => {
    raw = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s, data) {
          const chunked = Buffer.from(data).toString().startsWith("GET /chunked");
          s.write(
            chunked
              ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nonly part"
              : "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nten bytes.",
          );
          s.end();
        },
      },
    });
  });
  afterAll(() => raw.stop(true));

  for (const path of ["/sized", "/chunked"]) {
    test(`fails its reader (${path.slice(1)})`, async () => {
      const res = await socketGet(`http://127.0.0.1:${raw.port}${path}`, { headers: {} });
      expect(res.status).toBe(200);
      await expect(res.arrayBuffer()).rejects.toThrow("closed before the whole body came");
    });
  }
});

test("aborting mid-body fails the reader", async () => {
  const abort = new AbortController();
  const res = await socketGet(`${base}/endless`, { headers: {}, signal: abort.signal });
  const reader = res.body!.getReader();
  await reader.read();
  abort.abort(new Error("attempt cancelled"));
  await expect(
    (async () => {
      for (let next = await reader.read(); !next.done; next = await reader.read());
    })(),
  ).rejects.toThrow("attempt cancelled");
});

test("a reader that does not read stops the download after a few MiB", async () => {
  const res = await socketGet(`${base}/endless`, { headers: {} });
  const reader = res.body!.getReader();
  await reader.read();
  // whatever the machine's speed, the server gets no further than the queue and the sockets' buffers
  await Bun.sleep(300);
  expect(pulled).toBeLessThan(64 * MiB);
  await reader.cancel();
});

describe("over TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "drover-socket-get-"));
  let tls: ReturnType<typeof Bun.serve>;
  const openssl = (...args: string[]) => {
    const done = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
    if (done.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${done.stderr}`);
  };
  /** A self-signed certificate and key, `name`.pem and `name`.key: a CA. */
  const selfSigned = (name: string) =>
    openssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
    );
  beforeAll(() => {
    selfSigned("ca");
    selfSigned("other");
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
    writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
    openssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    );
    tls = Bun.serve({
      port: 0,
      tls: { cert: readFileSync(join(dir, "server.pem"), "utf8"), key: readFileSync(join(dir, "server.key"), "utf8") },
      fetch: () => new Response(big.slice()),
    });
  });
  afterAll(() => {
    tls.stop(true);
    rmSync(dir, { recursive: true, force: true });
  });

  test("a server the CA vouches for is read", async () => {
    const res = await socketGet(`https://127.0.0.1:${tls.port}/`, { headers: {}, ca: readFileSync(join(dir, "ca.pem"), "utf8") });
    expect(Buffer.from(await bytesOf(res)).equals(Buffer.from(big))).toBe(true);
  });

  test("a server it does not vouch for is refused", async () => {
    const ca = readFileSync(join(dir, "other.pem"), "utf8");
    await expect(
      socketGet(`https://127.0.0.1:${tls.port}/`, { headers: {}, ca }).then((res) => res.arrayBuffer()),
    ).rejects.toThrow();
  });
});
