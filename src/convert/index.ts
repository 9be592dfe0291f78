/**
 * Public API of the converter (used by `models convert` and `models pull`):
 *   canConvert(config) — can this config.json be converted, or the precise reason not;
 *   convertCheckpoint({ src, out, dtypes, onProgress }) — Hugging Face folder → transformers.js folder.
 * Errors the user can fix are ConvertError (one line).
 */
export { canConvert, type CanConvert } from "./support.ts";
export { convertCheckpoint, type ConvertOptions } from "./hf-folder.ts";
export { ConvertError } from "./tensors.ts";
export { GRAPH_FORMS, VARIANTS, VARIANT_FILES, type GraphForm, type Variant } from "./ops.ts";
export type { Progress, FolderResult } from "./write-folder.ts";
export { parseAccuracyLevel, parseDtypeList, parseGraphForm } from "./dtypes.ts";
