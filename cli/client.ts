import { readFileSync } from "node:fs";

/** A failed API call, with the coordinator's own error message. */
export class ClientError extends Error {}

/** The CLI's thin HTTP client: one place for the base URL, the token and the error shape. */
export class Client {
  readonly url: string;
  private readonly token: string;
  /** a private CA the coordinator's certificate is checked against (DROVER_CA_FILE, or `drover --ca-file PEM …`) */
  private readonly tls: { ca: string } | undefined;

  constructor() {
    this.url = (process.env.DROVER_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
    this.token = process.env.DROVER_TOKEN ?? "";
    if (!this.token) throw new ClientError("DROVER_TOKEN is not set (the admin token is printed by `drover serve`)");
    const caFile = process.env.DROVER_CA_FILE;
    try {
      this.tls = caFile ? { ca: readFileSync(caFile, "utf8") } : undefined;
    } catch (e) {
      throw new ClientError(`DROVER_CA_FILE ${caFile}: ${(e as Error).message}`);
    }
  }

  async request(method: string, path: string, body?: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        body,
        headers: { authorization: `Bearer ${this.token}`, ...headers },
        tls: this.tls,
      });
    } catch (e) {
      throw new ClientError(`cannot reach the coordinator at ${this.url}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let message = text || res.statusText;
      try {
        message = JSON.parse(text).error.message;
      } catch {
        // not the JSON error shape: show the body as it is
      }
      throw new ClientError(`${method} ${path} failed (${res.status}): ${message}`);
    }
    return res;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(
      method,
      path,
      body === undefined ? undefined : JSON.stringify(body),
      body === undefined ? {} : { "content-type": "application/json" },
    );
    return (await res.json()) as T;
  }
}
