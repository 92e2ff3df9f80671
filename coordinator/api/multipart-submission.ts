import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import busboy from "busboy";
import { DroverError } from "../../shared/errors.ts";
import { formatBytes } from "../../shared/format.ts";

/** The fields a multipart run submission reads (others are ignored, as a JSON submission's unknown keys are), and its one file part. */
const FIELDS = ["pipeline", "file", "group", "variables", "source"];
const FILE_FIELD = "workspace";
/** Text fields one submission may have at most, known or not. */
const MAX_FIELDS = 16;

/** What a multipart submission held: its text fields, and where its workspace went (if it had one). */
export interface MultipartSubmission {
  fields: Record<string, string>;
  workspace: string | null;
}

/**
 * Reads a multipart/form-data run submission as it arrives (busboy): its text fields, each at most
 * `fieldBytes`, into memory, and its workspace part straight into `store` (which resolves with the key it
 * stored it under), never into memory whole: `FormData` held the whole body, twice, before anything else
 * happened (300 MiB took the coordinator from 96 to 654 MiB). A field past its bound is a 413, a second file or more
 * than MAX_FIELDS fields a 400. When it fails after the workspace was stored, `discard` is given its key.
 */
export function readMultipartSubmission(
  request: Request,
  fieldBytes: number,
  store: (body: ReadableStream<Uint8Array>) => Promise<string>,
  discard: (key: string) => Promise<void>,
): Promise<MultipartSubmission> {
  const fields: Record<string, string> = {};
  let stored: Promise<string> | null = null;
  return new Promise<MultipartSubmission>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: Object.fromEntries(request.headers),
        // busboy says "partsLimit" once it has counted that many parts: one more than the fields and the file
        limits: { fieldSize: fieldBytes, fields: MAX_FIELDS, files: 1, parts: MAX_FIELDS + 2 },
      });
    } catch (e) {
      reject(new DroverError("bad_request", `not a multipart/form-data body: ${(e as Error).message}`));
      return;
    }
    let failure: Error | null = null;
    /** the workspace part being stored */
    let file: Readable | null = null;
    const input = request.body ? Readable.fromWeb(request.body as unknown as NodeReadableStream<Uint8Array>) : null;
    if (!input) return reject(new DroverError("bad_request", "the request has no body"));
    const fail = (e: Error) => {
      failure ??= e;
      input.unpipe(parser);
      input.destroy();
      // the store stops reading it, and its put fails
      file?.destroy(e);
    };
    parser.on("field", (name, value, info) => {
      if (info.valueTruncated) return fail(new DroverError("too_large", `field ${name.slice(0, 64)} may be at most ${formatBytes(fieldBytes)}`));
      if (FIELDS.includes(name)) fields[name] = value;
    });
    parser.on("file", (name, part) => {
      if (name !== FILE_FIELD || stored) {
        part.resume();
        return fail(new DroverError("bad_request", `a run submission's one file is its ${FILE_FIELD}, not ${JSON.stringify(name.slice(0, 64))}`));
      }
      file = part;
      stored = store(Readable.toWeb(part) as unknown as ReadableStream<Uint8Array>);
      stored.catch(fail);
    });
    for (const limit of ["fieldsLimit", "filesLimit", "partsLimit"] as const) {
      parser.on(limit, () => fail(new DroverError("bad_request", `a run submission has at most ${MAX_FIELDS} fields (${FIELDS.join(", ")}) and one file, its ${FILE_FIELD}`)));
    }
    parser.on("error", (e: Error) => fail(new DroverError("bad_request", `the multipart body is damaged: ${e.message}`)));
    parser.on("close", () => finish());
    input.on("error", (e) => fail(e));
    input.on("close", () => {
      // the client went away (or the input was stopped): the parser may never close
      if (failure) finish();
    });
    input.pipe(parser);

    let finished = false;
    async function finish() {
      if (finished) return;
      finished = true;
      const workspace = await (stored ?? Promise.resolve(null)).catch((e: Error) => {
        failure ??= e;
        return null;
      });
      if (!failure) return resolve({ fields, workspace });
      if (workspace) await discard(workspace).catch(() => {});
      reject(failure);
    }
  });
}
