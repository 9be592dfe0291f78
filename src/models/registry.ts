/**
 * Reader of the seed's `model_type` registry, models/registry.json (spec atoma-protocol.md §10.1,
 * reference `ModelType` at `6842a9b7`). The table is data so that adding or correcting a row is a
 * JSON edit; this module only validates it once at import and offers typed lookups. The JSON is
 * imported (not read from disk) so the compiled single executable carries it.
 */
import raw from "../../models/registry.json" with { type: "json" };

export type ModelFamily =
  | "falcon"
  | "llama"
  | "mamba"
  | "mistral"
  | "mixtral"
  | "phi3"
  | "qwen2"
  | "qwen2_moe"
  | "stable_diffusion";

/** How a row's repository becomes a model the engine runs. */
export type ModelSource =
  /** transformers.js layout in the repo (onnx/model*.onnx + config.json + tokenizer.json): served as is. */
  | "onnx"
  /** Hugging Face safetensors checkpoint: converted by the node (src/convert, issue 10). */
  | "safetensors"
  /** One GGUF file plus a tokenizer from another repo. */
  | "gguf"
  /** One GGML v3 `.bin` file plus a tokenizer from another repo. */
  | "ggml"
  /** A diffusers pipeline (text-to-image). */
  | "diffusers";

export interface CatalogEntry {
  modelType: string;
  /** Hugging Face repository of the original weights (as the reference loaded them). */
  repo: string;
  /** The loader's built-in default revision; undefined where none applied (diffusers: pulled at `main`). */
  revision: string | undefined;
  family: ModelFamily;
  task: "text-generation" | "text-to-image";
  /** Whether transformers.js 4.3.1 has the architecture (spec column "transformers.js support"). */
  transformersJs: boolean;
  /** Quantized (GGML/GGUF) models: one fixed file; dtype is ignored; tokenizer from another repo. */
  quantized?: { file: string; tokenizerRepo: string; ggmlGqa?: number };
}

/** A full registry row: the catalogue fields plus what `models list` / `models pull` need. */
export interface RegistryRow extends CatalogEntry {
  /** Maximum context in tokens (config `max_position_embeddings`); null for recurrent models (Mamba). */
  contextLength: number | null;
  /** The repo asks users to accept terms: a token is needed. */
  gated: boolean;
  source: ModelSource;
  /** Files to pull: exact paths or `*` patterns (`*` never crosses `/`). */
  files: string[];
  /** Precisions the row can be served at. */
  precisions: string[];
  /** Whether the tokenizer repo of a quantized row is gated. */
  tokenizerGated?: boolean;
  /**
   * A safetensors row whose repo ships no tokenizer (the original state-spaces/mamba-* checkpoints,
   * which use GPT-NeoX's): the repo its tokenizer files are pulled from and converted with.
   */
  tokenizerRepo?: string;
  /** Known oddity of the row (kept as the reference had it). */
  note?: string;
}

const FAMILIES = new Set<string>(["falcon", "llama", "mamba", "mistral", "mixtral", "phi3", "qwen2", "qwen2_moe", "stable_diffusion"]);
const SOURCES = new Set<string>(["onnx", "safetensors", "gguf", "ggml", "diffusers"]);
const TASKS = new Set<string>(["text-generation", "text-to-image"]);

/** Validates one JSON row; a broken registry is a build error, so this throws with the row named. */
function readRow(r: Record<string, unknown>, i: number): RegistryRow {
  const where = `models/registry.json models[${i}]${typeof r.model_type === "string" ? ` (${r.model_type})` : ""}`;
  const str = (k: string): string => {
    if (typeof r[k] !== "string" || r[k] === "") throw new Error(`${where}: ${k} must be a non-empty string`);
    return r[k] as string;
  };
  const strList = (k: string): string[] => {
    const v = r[k];
    if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === "string" && s !== "")) throw new Error(`${where}: ${k} must be a non-empty list of strings`);
    return v as string[];
  };
  const of = <T extends string>(k: string, set: Set<string>): T => {
    const v = str(k);
    if (!set.has(v)) throw new Error(`${where}: ${k} ${JSON.stringify(v)} is not one of ${[...set].join(", ")}`);
    return v as T;
  };
  const repo = str("repo");
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new Error(`${where}: repo ${JSON.stringify(repo)} is not org/name`);
  if (r.revision !== null && typeof r.revision !== "string") throw new Error(`${where}: revision must be a string or null`);
  if (r.context_length !== null && !Number.isSafeInteger(r.context_length)) throw new Error(`${where}: context_length must be an integer or null`);
  if (typeof r.gated !== "boolean" || typeof r.transformers_js !== "boolean") throw new Error(`${where}: gated and transformers_js must be booleans`);
  const source = of<ModelSource>("source", SOURCES);
  const row: RegistryRow = {
    modelType: str("model_type"),
    repo,
    revision: (r.revision as string | null) ?? undefined,
    family: of<ModelFamily>("architecture", FAMILIES),
    task: of<CatalogEntry["task"]>("task", TASKS),
    transformersJs: r.transformers_js,
    contextLength: r.context_length as number | null,
    gated: r.gated,
    source,
    files: strList("files"),
    precisions: strList("precisions"),
  };
  if (source === "gguf" || source === "ggml") {
    row.quantized = { file: row.files[0]!, tokenizerRepo: str("tokenizer_repo") };
    if (r.ggml_gqa !== undefined) row.quantized.ggmlGqa = r.ggml_gqa as number;
    row.tokenizerGated = r.tokenizer_gated === true;
  }
  if (source === "safetensors" && r.tokenizer_repo !== undefined) row.tokenizerRepo = str("tokenizer_repo");
  if (typeof r.note === "string") row.note = r.note;
  return row;
}

function readRegistry(data: unknown): RegistryRow[] {
  const d = data as { format?: unknown; models?: unknown };
  if (d.format !== 1 || !Array.isArray(d.models)) throw new Error("models/registry.json: expected { format: 1, models: [...] }");
  const rows = d.models.map((r, i) => readRow(r as Record<string, unknown>, i));
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.modelType)) throw new Error(`models/registry.json: model_type ${r.modelType} appears twice`);
    seen.add(r.modelType);
  }
  return rows;
}

export const REGISTRY: readonly RegistryRow[] = readRegistry(raw);

/** The rows in their catalogue shape (what config/ and engine/ need). */
export const MODEL_CATALOG: readonly RegistryRow[] = REGISTRY;

const BY_TYPE: ReadonlyMap<string, RegistryRow> = new Map(REGISTRY.map((e) => [e.modelType, e]));

/** The registry row of a seed `model_type`, or undefined for a custom name. */
export function registryRow(modelType: string): RegistryRow | undefined {
  return BY_TYPE.get(modelType);
}

/** Catalogue fields only (the historical shape of config/model-catalog.ts). */
export function catalogEntry(modelType: string): CatalogEntry | undefined {
  const r = BY_TYPE.get(modelType);
  if (!r) return undefined;
  const { modelType: m, repo, revision, family, task, transformersJs, quantized } = r;
  return { modelType: m, repo, revision, family, task, transformersJs, ...(quantized ? { quantized } : {}) };
}

export function isKnownModelType(modelType: string): boolean {
  return BY_TYPE.has(modelType);
}
