/**
 * `npm run bench:gpu:pack`: the GPU benchmark harness as one file to carry to a GPU machine with no
 * network — test/bench/gpu/gpu.bench.ts compiled by build.ts (Bun runtime, the converter, the
 * engine and the embedded ONNX Runtime with its WebGPU EP), xz-compressed into
 * dist/gpu-bench.tar.xz, refused above 64 MiB. There: `tar xJf gpu-bench.tar.xz && ./gpu-bench/gpu-bench`.
 * The CUDA EP is not inside (hundreds of MB); `--device cuda` needs it installed there.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "../../../build.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const LIMIT = 64 * 1024 * 1024;
const stage = join(ROOT, "dist", "gpu-bench");
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
const r = await build({ entry: join(import.meta.dir, "gpu.bench.ts"), outfile: join(stage, "gpu-bench") });
for (const w of r.warnings) console.warn(`warning: ${w}`);
const out = join(ROOT, "dist", "gpu-bench.tar.xz");
execFileSync("tar", ["-cJf", out, "-C", join(ROOT, "dist"), "gpu-bench"], { env: { ...process.env, XZ_OPT: "-9 -T0" } });
const bytes = statSync(out).size;
console.log(`packed ${out}: ${(bytes / 2 ** 20).toFixed(1)} MiB (binary ${(r.bytes / 2 ** 20).toFixed(1)} MiB before compression), limit 64 MiB`);
if (bytes > LIMIT) {
  console.error("over the 64 MiB limit");
  process.exit(1);
}
