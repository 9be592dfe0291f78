/**
 * Child process for the memory-bound test: converts `argv[2]` into `argv[3]` with the product API
 * (what `models convert` runs) and prints this process's peak RSS in bytes as JSON.
 */
import { convertCheckpoint, parseDtypeList } from "../../src/convert/index.ts";

const [src, out, dtypes] = process.argv.slice(2);
const r = await convertCheckpoint({ src: src!, out: out!, dtypes: parseDtypeList(dtypes ?? "f16,q4") });
console.log(JSON.stringify({ peakRss: process.resourceUsage().maxRSS * 1024, bytesRead: r.bytesRead, chunks: r.externalChunks }));
