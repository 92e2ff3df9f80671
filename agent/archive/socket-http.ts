import type { Socket } from "bun";
import { type BodyFraming, framingOf, type Head, parseHead } from "./http-framing.ts";
import { SocketWriter } from "./socket-writer.ts";

/**
 * HTTP/1.1 straight over a TCP (or TLS) socket, for archive uploads and downloads between agent and
 * coordinator. Bun's fetch hands a body to JavaScript in ~64 KiB chunks through its stream machinery:
 * 1.05 CPU-s per GiB in the client here, against 0.52 for the same bytes taken from the socket, which
 * gives them in reads of a few hundred KiB (and so fewer, larger pieces to parse downstream); its upload
 * sink was a third of a saving agent's main thread. One request per connection, closed after it; the
 * answer is a Response as fetch's would be, whatever its status, so callers check it the same way.
 */

/** Body bytes queued for the reader before the socket stops reading: the rest waits in the kernel. */
const QUEUED_BYTES = 4 * 1024 * 1024;
/** Body bytes written ahead of what the socket has taken, so that the sender keeps producing meanwhile. */
const SEND_AHEAD = 4 * 1024 * 1024;
/** A status line and headers longer than this are no coordinator's answer. */
const MAX_HEAD = 64 * 1024;

export interface SocketRequest {
  method: string;
  /** sent chunked, only as fast as the socket takes it */
  body?: ReadableStream<Uint8Array>;
  /** called with each chunk of `body` once the socket has taken all of it */
  sent?: (chunk: Uint8Array) => void;
  headers: Record<string, string>;
  /** a private CA's PEM for an https:// URL */
  ca?: string | null;
  signal?: AbortSignal;
}

const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);

/**
 * Sends one request over a connection of its own and resolves with the answer once its head has come;
 * rejects, as fetch does, when no answer comes (a refused connection, a broken head, the signal, a body
 * that failed). An answer that comes before the whole body is sent (a refusal) stops the sending and
 * cancels the body. The answer's body is read only as fast as it is consumed: past QUEUED_BYTES the
 * socket stops reading.
 */
export function socketRequest(url: string, opts: SocketRequest): Promise<Response> {
  const target = new URL(url);
  const secure = target.protocol === "https:";
  if (!secure && target.protocol !== "http:") return Promise.reject(new Error(`cannot send to ${target.protocol} URLs`));
  const port = Number(target.port || (secure ? 443 : 80));
  const tls = secure ? { serverName: target.hostname, ...(opts.ca ? { ca: opts.ca } : {}) } : undefined;
  const head = [
    `${opts.method} ${target.pathname}${target.search} HTTP/1.1`,
    `Host: ${target.host}`,
    "Connection: close",
    ...(opts.body ? ["Transfer-Encoding: chunked"] : []),
    ...Object.entries(opts.headers).map(([name, value]) => `${name}: ${value}`),
    "",
    "",
  ].join("\r\n");

  return new Promise<Response>((resolve, reject) => {
    let socket: Socket<undefined> | null = null;
    let writer: SocketWriter | null = null;
    let received: Uint8Array | null = new Uint8Array(0);
    let framing: BodyFraming | null = null;
    let body: ReadableStreamDefaultController<Uint8Array> | null = null;
    const sending = opts.body?.getReader();
    let answered = false;
    let ended = false;
    let paused = false;

    const stopSending = (why: unknown) => {
      sending?.cancel(why).catch(() => {});
    };
    /** No answer (yet): the promise rejects; mid-body, the body errors. */
    const fail = (e: Error) => {
      if (ended) return;
      ended = true;
      opts.signal?.removeEventListener("abort", onAbort);
      socket?.terminate();
      stopSending(e);
      if (!answered) reject(e);
      else body?.error(e);
    };
    const onAbort = () => fail(opts.signal!.reason as Error);
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const finish = () => {
      ended = true;
      opts.signal?.removeEventListener("abort", onAbort);
      socket?.end();
      body?.close();
    };
    const emit = (piece: Uint8Array) => {
      body!.enqueue(piece);
      if (!paused && body!.desiredSize! <= 0) {
        paused = true;
        socket?.pause();
      }
    };
    const feedBody = (data: Uint8Array) => {
      if (framing!.feed(data, emit)) finish();
    };
    const answer = (parsed: Head, rest: Uint8Array) => {
      framing = framingOf(parsed);
      const stream = new ReadableStream<Uint8Array>(
        {
          start: (controller) => {
            body = controller;
          },
          pull: () => {
            if (!paused) return;
            paused = false;
            socket?.resume();
          },
          cancel: () => {
            ended = true;
            opts.signal?.removeEventListener("abort", onAbort);
            socket?.terminate();
          },
        },
        { highWaterMark: QUEUED_BYTES, size: (piece) => piece?.byteLength ?? 0 },
      );
      answered = true;
      stopSending(new Error("answered before the whole body was sent"));
      resolve(new Response(stream, { status: parsed.status, statusText: parsed.statusText, headers: parsed.headers }));
      feedBody(rest);
    };
    const onData = (data: Uint8Array) => {
      if (!received) return feedBody(data);
      const joined = received.length ? Buffer.concat([received, data]) : data;
      const end = Buffer.from(joined.buffer, joined.byteOffset, joined.length).indexOf(CRLFCRLF);
      if (end === -1) {
        if (joined.length > MAX_HEAD) throw new Error("the answer's head is too long");
        received = joined;
        return;
      }
      received = null;
      answer(parseHead(joined.subarray(0, end)), joined.subarray(end + 4));
    };
    /** The body, each piece a chunk of its own, sent as the socket takes it. */
    const send = async (reader: ReadableStreamDefaultReader<Uint8Array>, out: SocketWriter) => {
      for (;;) {
        const next = await reader.read();
        if (ended || answered) return;
        if (next.done) return out.write("0\r\n\r\n");
        if (next.value.length === 0) continue;
        out.write(`${next.value.length.toString(16)}\r\n`);
        const chunk = next.value;
        out.write(chunk, opts.sent && (() => opts.sent!(chunk)));
        out.write("\r\n");
        await out.below(SEND_AHEAD);
      }
    };

    Bun.connect({
      hostname: target.hostname.replace(/^\[|\]$/g, ""),
      port,
      tls,
      socket: {
        binaryType: "uint8array",
        open(s) {
          socket = s;
          if (ended) return void s.terminate();
          writer = new SocketWriter(s);
          writer.write(head);
          if (sending) send(sending, writer).catch((e: Error) => fail(e));
        },
        drain() {
          writer?.drained();
        },
        data(_s, data) {
          if (ended) return;
          try {
            onData(data);
          } catch (e) {
            fail(e as Error);
          }
        },
        end(s) {
          s.end();
        },
        close(_s, error) {
          if (ended) return;
          if (answered && framing?.endsWithClose) return finish();
          fail(
            error ??
              new Error(
                answered ? "the connection closed before the whole body came" : "the connection closed before an answer came",
              ),
          );
        },
        error(_s, error) {
          fail(error);
        },
        connectError(_s, error) {
          fail(error);
        },
      },
    }).catch((e: Error) => fail(e));
  });
}
