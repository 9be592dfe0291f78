/**
 * Child process for the memory-bound test: converts `argv[2]` into `argv[3]` with the product API
 * (what `models convert` runs) and prints this process's peak RSS in bytes as JSON. Peak RSS is
 * /proc/self/status VmHWM (this address space only): getrusage's maxrss survives exec and would
 * count the spawning test process's memory.
 */
import { readFileSync } from "node:fs";
import { convertCheckpoint, parseDtypeList } from "../../src/convert/index.ts";

const [src, out, dtypes] = process.argv.slice(2);
const r = await convertCheckpoint({ src: src!, out: out!, dtypes: parseDtypeList(dtypes ?? "f16,q4") });
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
console.log(JSON.stringify({ peakRss: Number(hwm![1]) * 1024, bytesRead: r.bytesRead, chunks: r.externalChunks }));
