/**
 * Precision → ONNX file variant (transformers.js naming, runtime-notes §4.4). ONNX Runtime's JS
 * backends have no bf16 compute path, so `bf16` is served honestly by the closest real variant:
 * the fp16 file when the model ships one, else fp32, with a logged warning (spec §10.2).
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DTYPES, EngineError, type DType } from "./types.ts";

/** transformers.js dtype names, as passed to `from_pretrained({ dtype })`. */
export type TjsDtype = "fp32" | "fp16" | "q8" | "q4" | "q4f16";

const VARIANTS: Record<TjsDtype, string> = {
  fp32: "model.onnx",
  fp16: "model_fp16.onnx",
  q8: "model_quantized.onnx",
  q4: "model_q4.onnx",
  q4f16: "model_q4f16.onnx",
};

const DIRECT: Record<Exclude<DType, "bf16">, TjsDtype> = {
  f32: "fp32",
  f16: "fp16",
  q8: "q8",
  q4: "q4",
  q4f16: "q4f16",
};

export interface DtypeChoice {
  tjs: TjsDtype;
  /** Path of the ONNX file that will be loaded. */
  file: string;
  /** Set when the loaded variant differs from the requested precision. */
  warning?: string;
}

export function parseDtype(value: string): DType {
  if ((DTYPES as readonly string[]).includes(value)) return value as DType;
  throw new EngineError(`unknown dtype "${value}": expected one of ${DTYPES.join(", ")}`);
}

/** Which precisions the model directory can serve, by present ONNX files. */
function presentVariants(dir: string): string[] {
  const onnxDir = join(dir, "onnx");
  if (!existsSync(onnxDir)) return [];
  const files = new Set(readdirSync(onnxDir));
  return Object.values(VARIANTS).filter((f) => files.has(f));
}

export function chooseVariant(dir: string, dtype: DType): DtypeChoice {
  const present = presentVariants(dir);
  const fileOf = (t: TjsDtype) => join(dir, "onnx", VARIANTS[t]);
  if (dtype === "bf16") {
    for (const t of ["fp16", "fp32"] as const) {
      if (present.includes(VARIANTS[t])) {
        return {
          tjs: t,
          file: fileOf(t),
          warning: `dtype bf16 has no ONNX Runtime compute path here; loading the ${t} variant onnx/${VARIANTS[t]} instead`,
        };
      }
    }
    throw missing(dir, "bf16", "onnx/model_fp16.onnx or onnx/model.onnx", present);
  }
  const t = DIRECT[dtype];
  if (!present.includes(VARIANTS[t])) throw missing(dir, dtype, `onnx/${VARIANTS[t]}`, present);
  return { tjs: t, file: fileOf(t) };
}

function missing(dir: string, dtype: string, wanted: string, present: string[]): EngineError {
  const have = present.length ? present.map((f) => `onnx/${f}`).join(", ") : "none";
  return new EngineError(`model ${dir} has no ${dtype} variant: ${wanted} is missing (present: ${have})`);
}
