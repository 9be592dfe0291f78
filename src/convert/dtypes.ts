/** `--dtypes f32,q4,…` (CLI precision names or transformers.js names, or `all`) → ONNX variants. */
import { ACCURACY_LEVELS, GRAPH_FORMS, VARIANTS, type AccuracyLevel, type GraphForm, type Variant } from "./ops.ts";
import { ConvertError } from "./tensors.ts";

const NAMES: Record<string, Variant> = {
  f32: "fp32", fp32: "fp32", f16: "fp16", fp16: "fp16", q8: "q8", q4: "q4", q4f16: "q4f16",
};
const EXPECTED = "expected a comma-separated list of f32, f16, q8, q4, q4f16 (or all)";

/** In canonical order, without duplicates. */
export function parseDtypeList(raw: string): Variant[] {
  const names = raw.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (names.length === 1 && names[0] === "all") return [...VARIANTS];
  if (names.length === 0) throw new ConvertError(`--dtypes is empty; ${EXPECTED}`);
  const chosen = new Set<Variant>();
  for (const n of names) {
    if (n === "bf16") throw new ConvertError(`--dtypes bf16: ONNX Runtime has no bf16 compute path; write f16 instead (the engine serves bf16 from it)`);
    const v = NAMES[n];
    if (!v) throw new ConvertError(`--dtypes: unknown dtype "${n}"; ${EXPECTED}`);
    chosen.add(v);
  }
  return VARIANTS.filter((v) => chosen.has(v));
}

/** `--graph standard|fused` (docs/convert.md, "Graph forms"). */
export function parseGraphForm(raw: string): GraphForm {
  const v = raw.trim().toLowerCase();
  if (!(GRAPH_FORMS as readonly string[]).includes(v)) throw new ConvertError(`--graph: unknown graph form "${raw}"; expected ${GRAPH_FORMS.join(" or ")}`);
  return v as GraphForm;
}

/** `--accuracy-level 0|4` → the MatMulNBits accuracy_level of the quantised variants. */
export function parseAccuracyLevel(raw: string): AccuracyLevel {
  const n = Number(raw.trim());
  if (!ACCURACY_LEVELS.includes(n as AccuracyLevel) || raw.trim() === "") {
    throw new ConvertError(`--accuracy-level: "${raw}" is not one of ${ACCURACY_LEVELS.join(", ")} (0 = compute in the activations' float type, 4 = int8 compute)`);
  }
  return n as AccuracyLevel;
}
