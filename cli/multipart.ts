export interface FilePart {
  field: string;
  filename: string;
  type: string;
  body: AsyncIterable<Uint8Array>;
}

/**
 * A multipart/form-data body whose file part streams: `FormData` wants the whole
 * file as a Blob first, which for a workspace means holding it in memory.
 */
export function multipart(fields: Record<string, string>, file: FilePart): { body: ReadableStream<Uint8Array>; contentType: string } {
  const boundary = `drover-${crypto.randomUUID()}`;
  const encoder = new TextEncoder();
  async function* parts() {
    for (const [name, value] of Object.entries(fields)) {
      yield encoder.encode(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
    }
    yield encoder.encode(
      `--${boundary}\r\ncontent-disposition: form-data; name="${file.field}"; filename="${file.filename}"\r\ncontent-type: ${file.type}\r\n\r\n`,
    );
    yield* file.body;
    yield encoder.encode(`\r\n--${boundary}--\r\n`);
  }
  const chunks = parts();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await chunks.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}
