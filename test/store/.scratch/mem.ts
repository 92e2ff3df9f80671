import { openObjectStore } from "../../../coordinator/store/open.ts";
import { startS3rver } from "../../helpers/s3rver.ts";
import { generated, measure } from "../streams.ts";
const s3 = await startS3rver();
try {
  const store = openObjectStore(s3.spec);
  const gcEvery = Number(process.argv[2] ?? 0);
  for (let i = 0; i < 3; i++) {
    const body = generated(200 * 2 ** 20, 256 * 1024);
    const t = gcEvery ? setInterval(() => Bun.gc(false), gcEvery) : undefined;
    const s = await measure(200 * 2 ** 20, () => store.put("m", body.stream));
    clearInterval(t);
    console.log(s, process.memoryUsage());
  }
} finally { await s3.stop(); }
