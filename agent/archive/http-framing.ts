/**
 * The answer side of HTTP/1.1 for socket-http.ts: its head parsed, and how its body is framed (a length, chunks,
 * or the connection's end), each piece handed on as a view of the socket's reads.
 */

/** A chunk-size line (or a trailer line) longer than this is no coordinator's. */
const MAX_LINE = 1024;

const latin1 = new TextDecoder("latin1");

/** How a body ends: after so many bytes, with its last chunk (chunked), or with the connection. */
export interface BodyFraming {
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

export interface Head {
  status: number;
  statusText: string;
  headers: Headers;
}

/** The status line and headers (their bytes, without the blank line), or an error saying why they are not HTTP/1.1's. */
export function parseHead(bytes: Uint8Array): Head {
  const [statusLine, ...lines] = latin1.decode(bytes).split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine ?? "");
  if (!match) throw new Error(`not an HTTP answer: "${(statusLine ?? "").slice(0, 40)}"`);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(match[1]), statusText: match[2] ?? "", headers };
}

/** How the body of an answer with `head` ends. */
export function framingOf(head: Head): BodyFraming {
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
