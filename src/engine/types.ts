/**
 * The engine boundary. Everything that turns a prompt into tokens implements `TextEngine`;
 * the node, the API and the CLI only see this file. Backends: ONNX Runtime in this process
 * (src/engine/engine.ts) and remote OpenAI-compatible servers (src/engine/remote). Stable Diffusion
 * models implement `ImageEngine` (src/engine/image/engine.ts) beside it.
 */
import type { ImageRequest, RgbImage } from "./image/pipeline.ts";
import type { DecodeRowsDecision } from "./invariance-probe.ts";

export type { ImageRequest, RgbImage };

/** `cuda` needs onnxruntime-node's CUDA execution provider, which its (skipped) install script fetches. */
export type Device = "cpu" | "webgpu" | "cuda" | "wasm";
/** Seed dtypes (f32/f16/bf16) plus ONNX quantised variants. */
export type DType = "f32" | "f16" | "bf16" | "q8" | "q4" | "q4f16";
export const DEVICES: readonly Device[] = ["cpu", "webgpu", "cuda", "wasm"];
export const DTYPES: readonly DType[] = ["f32", "f16", "bf16", "q8", "q4", "q4f16"];

/** Sampling parameters, already decoded from the chain's f32 bit patterns (use Math.fround values). */
export interface SamplingParams {
  maxTokens: number;
  /** ≤ 0 → greedy. */
  temperature: number;
  /** 0 = disabled. */
  topK: number;
  /** ≤ 0 or ≥ 1 = disabled. */
  topP: number;
  /** Exactly 1 = disabled. */
  repeatPenalty: number;
  repeatLastN: number;
  /** u64 seed. */
  seed: bigint;
}

export interface GenerateRequest {
  prompt: string;
  params: SamplingParams;
  /** Token ids prepended verbatim before the encoded prompt. */
  prePromptTokens?: number[];
  signal?: AbortSignal;
  /** When set, every chunk carries the chosen token's log-probability and this many top
   * alternatives (0 = none), from the model's raw distribution (log-softmax of the logits before
   * repeat penalty, temperature and cuts — what vLLM reports by default). */
  logprobs?: number;
}

export type FinishReason = "eos" | "length" | "aborted";

export interface GenerationResult {
  /** Generated text only (no prompt, no EOS). */
  text: string;
  /** pre_prompt_tokens ‖ prompt tokens ‖ generated tokens (EOS excluded). */
  tokens: number[];
  /** len(pre_prompt_tokens) + len(encoded prompt) (after any truncation). */
  inputTokens: number;
  /** Generated tokens, EOS excluded. */
  outputTokens: number;
  finishReason: FinishReason;
  /** Prompt tokens dropped from the left to fit the context. */
  truncatedTokens: number;
  timeToFirstTokenMs: number;
  /** Decode throughput after the first token. */
  tokensPerSecond: number;
  totalMs: number;
}

/** One streamed piece: `text` is the newly decodable text (may be empty for partial UTF-8). */
export interface GenerationChunk {
  /** The sampled token id; -1 where the backend reports text only (remote engines). */
  token: number;
  text: string;
  /** Only when the request asked for logprobs; absent on the final flush piece (no new token). */
  logprob?: TokenLogprob;
  /** The final piece: text held back from earlier tokens (an incomplete character), no new token. */
  flush?: true;
}

export interface TokenLogprob {
  logprob: number;
  /** Most likely tokens first (ties → lower id). */
  top: { token: number; logprob: number }[];
}

/** What the API needs from a model's tokenizer (transformers.js PreTrainedTokenizer). */
export interface EngineTokenizer {
  encode(text: string, opts?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
  /** Renders with `chat_template` from tokenizer_config.json, or the one passed; throws when neither exists. */
  apply_chat_template(messages: { role: string; content: string }[], opts: { tokenize: false; add_generation_prompt: boolean; chat_template?: string }): string;
  /** The model's template(s) from tokenizer_config.json; null when it has none. */
  chat_template?: unknown;
  bos_token?: string | null;
}

export interface ModelInfo {
  /** Name the model is served under (on-chain `params.model`). */
  id: string;
  /** Model directory; empty for a remote engine. */
  dir: string;
  /** `remote`: generations run on OpenAI-compatible servers (src/engine/remote). */
  device: Device | "remote";
  dtype: DType;
  /** The ONNX dtype actually loaded (e.g. bf16 → f16/f32 fallback). */
  loadedDtype: string;
  modelType: string;
  contextLength: number;
  vocabSize: number;
  /** Generations this engine decodes together (local ONNX: batch rows; 1 = one at a time). The
   * node runs this many workers for the model. */
  maxBatch?: number;
  /** Local batched engines: fewest rows a decode step runs and how that was decided (dense graph,
   * or the load-time batch-invariance probe of quantised graphs, src/engine/invariance-probe.ts). */
  decodeRows?: DecodeRowsDecision;
  /** Set for a remote engine: its kind, the upstream's model name and the upstreams (no credentials). */
  remote?: { kind: string; servedModel: string; upstreams: string[] };
}

export interface TextEngine {
  readonly info: ModelInfo;
  readonly tokenizer: EngineTokenizer;
  /** Runs to completion; `onChunk` receives pieces in order as they are produced. */
  generate(req: GenerateRequest, onChunk?: (chunk: GenerationChunk) => void): Promise<GenerationResult>;
  /** Async-iterator form of streaming; the final result is the iterator's return value. */
  stream(req: GenerateRequest): AsyncGenerator<GenerationChunk, GenerationResult, void>;
  dispose(): Promise<void>;
}

export interface LoadOptions {
  id: string;
  dir: string;
  device: Device;
  dtype: DType;
  /** Intra-op threads for CPU; default runtime choice. */
  threads?: number;
  /** Most generations decoded together in one batch (default 8); 1 = one at a time. */
  maxBatch?: number;
}

/** What an image model accepts; `generate` refuses requests outside these limits (EngineError). */
export interface ImageModelInfo {
  id: string;
  dir: string;
  device: Device;
  /** `stable_diffusion` (diffusers ONNX layout). */
  modelType: string;
  /** Scheduler from scheduler/scheduler_config.json: ddim, euler or euler_ancestral. */
  scheduler: string;
  /** Width/height used when a request gives 0 (unet sample_size × 8: 512 for SD 1.5). */
  defaultSize: number;
  /** Largest width/height accepted (default 2 × defaultSize; `max_image_size`). */
  maxSize: number;
  /** Most denoising steps per image (default 500; `max_steps`). */
  maxSteps: number;
  /** Most images per request (default 16; `max_samples`). */
  maxSamples: number;
  /** Few-step model (sd-turbo / sdxl-turbo): chain defaults are 1 step and guidance 0. */
  turbo: boolean;
  /** What decided `turbo`: the converter's record of the source repo, or the name fallback. */
  turboFrom?: "converter record" | "name";
  /** img2img needs vae_encoder/, which some exports omit. */
  img2img: boolean;
}

export interface GeneratedImage {
  width: number;
  height: number;
  /** PNG for delivery (fast-png; deterministic for the same pixels). */
  png: Uint8Array;
  /** Row-major H×W×3 RGB u8: the bytes spec §8.1 commits to (September contracts). */
  rgb: Uint8Array;
}

export interface ImageOutput {
  /** `num_samples` images in generation order; the last is the one a chain job commits to. */
  images: GeneratedImage[];
  /** CLIP tokens dropped to fit 77 (prompt, negative prompt); > 0 means the prompt was truncated. */
  truncated: { prompt: number; uncond: number };
  /** UNet steps run over all images. */
  steps: number;
  totalMs: number;
}

export interface ImageGenerateOptions {
  /** After every UNet step: steps done, total steps over all images. */
  onStep?: (done: number, total: number) => void;
  /** Aborting stops after the current step; `generate` then rejects with ImageAbortedError. */
  signal?: AbortSignal;
}

export interface ImageEngine {
  readonly info: ImageModelInfo;
  /** Runs one request at a time per engine (calls queue); rejects with EngineError for a request
   * outside `info`'s limits. */
  generate(req: ImageRequest, opts?: ImageGenerateOptions): Promise<ImageOutput>;
  dispose(): Promise<void>;
}

export interface ImageLoadOptions {
  id: string;
  dir: string;
  device: Device;
  maxSize?: number;
  maxSteps?: number;
  maxSamples?: number;
}

/** Thrown for every user-facing engine problem (bad model dir, unknown dtype, bad params). */
export class EngineError extends Error {
  override name = "EngineError";
}
