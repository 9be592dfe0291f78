/**
 * The one default precision for a model whose operator named none: `models pull`, `generate`,
 * `chat`, and a `[[inference.models]]` table without `dtype` (what `run` serves) all ask this, so a
 * model pulled without `--dtype` is the very variant `generate` or `run` loads afterwards — it is
 * never converted a second time. An explicit `--dtype`, or the configured entry's `dtype`, wins.
 *
 *  - `quantized_*` rows: the file's own quantization (q8 for Q8_0 files, q4 for the 4-bit ones);
 *    decompressing a GGUF to a dense graph is never what "no dtype" means.
 *  - `cpu`, `wasm`: f32. ONNX Runtime's CPU kernels compute in fp32; an fp16 graph saves disk but
 *    runs through casts or slower half-precision paths, and f32 is the precision the engine's
 *    determinism tests and per-family benchmarks cover (docs/convert.md).
 *  - `webgpu`, `cuda`: f16. Half the memory and bandwidth of f32, and the GPUs' fast path; what a
 *    GPU operator converts to by hand (bf16 is served from the same fp16 file, engine/dtype.ts).
 *    A folder loaded as is without an fp16 graph: f32 (defaultDtypeForFolder).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Device, DType } from "../engine/types.ts";
import type { RegistryRow } from "./registry.ts";

/** The file precision a quantized row is served at when no dtype is named. */
export function quantizedDefault(row: RegistryRow): DType {
  return row.precisions[0]?.startsWith("q8") ? "q8" : "q4";
}

/**
 * A dtype configured for a `quantized_*` row (a pre-quantized GGUF/GGML checkpoint): the protocol
 * says dtype is ignored for quantized models (atoma-protocol.md §2.2, §10.1), and dequantizing a
 * Q4 file to an f32 graph would serve the same weights at 4–8× the memory. So the file's own
 * precision is served and `ignored` is the one line saying so (logged by `run`, shown by `doctor`).
 */
export function dtypeForQuantizedRow(row: RegistryRow, configured: DType): { dtype: DType; ignored?: string } {
  const own = quantizedDefault(row);
  if (!row.quantized || configured === own) return { dtype: configured };
  return {
    dtype: own,
    ignored: `configured dtype "${configured}" ignored: ${row.modelType} is a pre-quantized checkpoint (${row.quantized.file}), served at the file's own precision ${own} (dtype does not apply to quantized_* rows)`,
  };
}

export function defaultDtype(device: Device, row?: RegistryRow): DType {
  if (row?.quantized) return quantizedDefault(row);
  return device === "webgpu" || device === "cuda" ? "f16" : "f32";
}

/**
 * A folder served as is (never converted): the device's default when the folder holds that
 * variant, else f32 — a GPU operator pointing at an fp32-only folder gets it loaded, not refused.
 */
export function defaultDtypeForFolder(device: Device, dir: string): DType {
  const d = defaultDtype(device);
  return d === "f16" && !existsSync(join(dir, "onnx", "model_fp16.onnx")) ? "f32" : d;
}

/** One line for `--help` texts and docs. */
export const DEFAULT_DTYPE_RULE = "default: the config's dtype, else f32 on cpu/wasm and f16 on webgpu/cuda (quantized rows: their file's own)";
