import type { Socket } from "bun";

/**
 * A GET read straight off a TCP (or TLS) socket, for archive downloads from the coordinator. Bun's fetch
 * hands a body to JavaScript in ~64 KiB chunks through its stream machinery: 1.05 CPU-s per GiB in the
 * client here, against 0.52 for the same bytes taken from the socket, which gives them in reads of a few
 * hundred KiB (and so fewer, larger pieces to parse downstream). One request per connection, closed after
 * it; the answer is a Response as fetch's would be, whatever its status, so callers check it the same way.
 */

/** Body bytes queued for the reader before the socket stops reading: the rest waits in the kernel. */
const QUEUED_BYTES = 4 * 1024 * 1024;
/** A status line and headers longer than this are no coordinator's answer. */
const MAX_HEAD = 64 * 1024;
/** A chunk-size line (or a trailer line) longer than this is no coordinator's either. */
const MAX_LINE = 1024;

export interface SocketGetOptions {
  headers: Record<string, string>;
  /** a private CA's PEM for an https:// URL */
  ca?: string | null;
  signal?: AbortSignal;
}

const latin1 = new TextDecoder("latin1");
const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);

/** How a body ends: after so many bytes, with its last chunk (chunked), or with the connection. */
interface BodyFraming {
  /** Passes the body's pieces in `data` to `emit`; true once the body is complete. */
  feed(data: Uint8Array, emit: (piece: Uint8Array) => void): boolean;
  /** Whether the body may end with the connection. */
  readonly endsWithClose: boolean;
}

class LengthFraming implements BodyFraming {
  readonly endsWithClose = false;
  constructor(private left: number) {}

  feed(data: Uint8Array, emit: (piece: Uint8Array) => void): boolean {
    const n = Math.min(this.left, data.length);
    if (n > 0) emit(n === data.length ? data : data.subarray(0, n));
    this.left -= n;
    return this.left === 0;
  }
}

class CloseFraming implements BodyFraming {
  readonly endsWithClose = true;

  feed(data: Uint8Array, emit: (piece: Uint8Array) => void): boolean {
    if (data.length > 0) emit(data);
    return false;
  }
}

/** Transfer-Encoding: chunked; the pieces are views of the socket's reads, never copies. */
class ChunkedFraming implements BodyFraming {
  readonly endsWithClose = false;
  private state: "size" | "data" | "crlf" | "trailer" | "done" = "size";
  private left = 0;
  private line = "";

  feed(data: Uint8Array, emit: (piece: Uint8Array) => void): boolean {
    let at = 0;
    while (at < data.length && this.state !== "done") {
      if (this.state === "data") {
        const n = Math.min(this.left, data.length - at);
        emit(data.subarray(at, at + n));
        at += n;
        this.left -= n;
        if (this.left === 0) this.state = "crlf";
        continue;
      }
      const lf = data.indexOf(10, at);
      this.line += latin1.decode(data.subarray(at, lf === -1 ? data.length : lf));
      if (this.line.length > MAX_LINE) throw new Error("malformed chunked body: a line too long");
      if (lf === -1) break;
      at = lf + 1;
      const line = this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line;
      this.line = "";
      this.endLine(line);
    }
    return this.state === "done";
  }

  private endLine(line: string): void {
    if (this.state === "crlf") {
      if (line !== "") throw new Error("malformed chunked body: no line end after a chunk");
      this.state = "size";
    } else if (this.state === "size") {
      const hex = line.split(";", 1)[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new Error(`malformed chunked body: chunk size "${hex.slice(0, 20)}"`);
      this.left = Number.parseInt(hex, 16);
      this.state = this.left === 0 ? "trailer" : "data";
    } else if (this.state === "trailer" && line === "") this.state = "done";
  }
}

interface Head {
  status: number;
  statusText: string;
  headers: Headers;
}

/** The status line and headers, or an error saying why they are not HTTP/1.1's. */
function parseHead(text: string): Head {
  const [statusLine, ...lines] = text.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine ?? "");
  if (!match) throw new Error(`not an HTTP answer: "${(statusLine ?? "").slice(0, 40)}"`);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(match[1]), statusText: match[2] ?? "", headers };
}

function framingOf(head: Head): BodyFraming {
  const encoding = head.headers.get("transfer-encoding");
  if (encoding) {
    if (encoding.toLowerCase().split(",").at(-1)!.trim() !== "chunked")
      throw new Error(`unsupported transfer encoding "${encoding}"`);
    return new ChunkedFraming();
  }
  const length = head.headers.get("content-length");
  if (length !== null) {
    if (!/^\d+$/.test(length)) throw new Error(`bad content-length "${length}"`);
    return new LengthFraming(Number(length));
  }
  // no body at all, or one that ends with the connection
  return head.status === 204 || head.status === 304 ? new LengthFraming(0) : new CloseFraming();
}

/**
 * GETs `url` over a connection of its own and resolves with the answer once its head has come;
 * rejects, as fetch does, when no answer comes (a refused connection, a broken head, the signal).
 * The body is read only as fast as it is consumed: past QUEUED_BYTES the socket stops reading.
 */
export function socketGet(url: string, opts: SocketGetOptions): Promise<Response> {
  const target = new URL(url);
  const secure = target.protocol === "https:";
  if (!secure && target.protocol !== "http:") return Promise.reject(new Error(`cannot GET ${target.protocol} URLs`));
  const port = Number(target.port || (secure ? 443 : 80));
  const tls = secure ? { serverName: target.hostname, ...(opts.ca ? { ca: opts.ca } : {}) } : undefined;
  const request = [
    `GET ${target.pathname}${target.search} HTTP/1.1`,
    `Host: ${target.host}`,
    "Connection: close",
    ...Object.entries(opts.headers).map(([name, value]) => `${name}: ${value}`),
    "",
    "",
  ].join("\r\n");

  return new Promise<Response>((resolve, reject) => {
    let socket: Socket<undefined> | null = null;
    let head: Uint8Array | null = new Uint8Array(0);
    let framing: BodyFraming | null = null;
    let body: ReadableStreamDefaultController<Uint8Array> | null = null;
    let answered = false;
    let ended = false;
    let paused = false;

    /** No answer (yet): the promise rejects; mid-body, the body errors. */
    const fail = (e: Error) => {
      if (ended) return;
      ended = true;
      socket?.terminate();
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
      resolve(new Response(stream, { status: parsed.status, statusText: parsed.statusText, headers: parsed.headers }));
      feedBody(rest);
    };
    const onHead = (data: Uint8Array) => {
      const joined = head!.length ? Buffer.concat([head!, data]) : data;
      const end = Buffer.from(joined.buffer, joined.byteOffset, joined.length).indexOf(CRLFCRLF);
      if (end === -1) {
        if (joined.length > MAX_HEAD) throw new Error("the answer's head is too long");
        head = joined;
        return;
      }
      head = null;
      answer(parseHead(latin1.decode(joined.subarray(0, end))), joined.subarray(end + 4));
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
          s.write(request);
        },
        data(_s, data) {
          if (ended) return;
          try {
            if (head) onHead(data);
            else feedBody(data);
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
