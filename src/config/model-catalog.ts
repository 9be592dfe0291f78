/**
 * The seed's `model_type` table (spec atoma-protocol.md §10.1, reference `ModelType` at `6842a9b7`)
 * as data. A `models` entry must name one of these unless it gives an explicit `path` (then the
 * name is a custom one). Other modules use it to tell a model's family/task and where its original
 * weights live on Hugging Face. `transformersJs` says whether transformers.js 4.3.1 has the
 * architecture (spec column "transformers.js support"); the engine refuses the others clearly.
 */

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

export interface CatalogEntry {
  modelType: string;
  /** Hugging Face repository of the original weights (as the reference loaded them). */
  repo: string;
  /** The loader's built-in default revision; undefined where none applied (diffusers). */
  revision: string | undefined;
  family: ModelFamily;
  task: "text-generation" | "text-to-image";
  transformersJs: boolean;
  /** Quantized (GGML/GGUF) models: one fixed file; dtype is ignored; tokenizer from another repo. */
  quantized?: { file: string; tokenizerRepo: string; ggmlGqa?: number };
}

// prettier-ignore
export const MODEL_CATALOG: readonly CatalogEntry[] = [
  { modelType: "falcon_7b", repo: "tiiuae/falcon-7b", revision: "refs/pr/43", family: "falcon", task: "text-generation", transformersJs: true },
  { modelType: "falcon_40b", repo: "tiiuae/falcon-40b", revision: "refs/pr/43", family: "falcon", task: "text-generation", transformersJs: true },
  { modelType: "falcon_180b", repo: "tiiuae/falcon-180b", revision: "refs/pr/43", family: "falcon", task: "text-generation", transformersJs: true },
  { modelType: "llama_v1", repo: "Narsil/amall-7b", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama_v2", repo: "meta-llama/Llama-2-7b-hf", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama_solar_10_7b", repo: "upstage/SOLAR-10.7B-v1.0", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama_tiny_llama_1_1b_chat", repo: "TinyLlama/TinyLlama-1.1B-Chat-v1.0", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama3_8b", repo: "meta-llama/Meta-Llama-3-8B", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama3_instruct_8b", repo: "meta-llama/Meta-Llama-3-8B-Instruct", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama3_70b", repo: "meta-llama/Meta-Llama-3-70B", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama31_8b", repo: "meta-llama/Meta-Llama-3.1-8B", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama31_instruct8b", repo: "meta-llama/Meta-Llama-3.1-8B-Instruct", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama31_70b", repo: "meta-llama/Meta-Llama-3.1-70B", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama31_instruct70b", repo: "meta-llama/Meta-Llama-3.1-70B-Instruct", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama31_405b", repo: "meta-llama/Meta-Llama-3.1-405B", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "llama31_instruct405b", repo: "meta-llama/Meta-Llama-3.1-405B-Instruct", revision: "main", family: "llama", task: "text-generation", transformersJs: true },
  { modelType: "mamba_130m", repo: "state-spaces/mamba-130m", revision: "refs/pr/1", family: "mamba", task: "text-generation", transformersJs: false },
  { modelType: "mamba_370m", repo: "state-spaces/mamba-370m", revision: "refs/pr/1", family: "mamba", task: "text-generation", transformersJs: false },
  { modelType: "mamba_790m", repo: "state-spaces/mamba-790m", revision: "refs/pr/1", family: "mamba", task: "text-generation", transformersJs: false },
  { modelType: "mamba_1-4b", repo: "state-spaces/mamba-1.4b", revision: "refs/pr/1", family: "mamba", task: "text-generation", transformersJs: false },
  { modelType: "mamba_2-8b", repo: "state-spaces/mamba-2.8b", revision: "refs/pr/4", family: "mamba", task: "text-generation", transformersJs: false },
  { modelType: "mistral_7bv01", repo: "mistralai/Mistral-7B-v0.1", revision: "main", family: "mistral", task: "text-generation", transformersJs: true },
  { modelType: "mistral_7bv02", repo: "mistralai/Mistral-7B-v0.2", revision: "main", family: "mistral", task: "text-generation", transformersJs: true },
  { modelType: "mistral_7b-instruct-v01", repo: "mistralai/Mistral-7B-Instruct-v0.1", revision: "main", family: "mistral", task: "text-generation", transformersJs: true },
  { modelType: "mistral_7b-instruct-v02", repo: "mistralai/Mistral-7B-Instruct-v0.2", revision: "main", family: "mistral", task: "text-generation", transformersJs: true },
  { modelType: "mixtral_8x7b-v01", repo: "mistralai/Mixtral-8x7B-v0.1", revision: "main", family: "mixtral", task: "text-generation", transformersJs: false },
  { modelType: "mixtral_8x7b-instruct-v01", repo: "mistralai/Mixtral-8x7B-Instruct-v0.1", revision: "main", family: "mixtral", task: "text-generation", transformersJs: false },
  { modelType: "mixtral_8x22b-v01", repo: "mistralai/Mixtral-8x22B-v0.1", revision: "main", family: "mixtral", task: "text-generation", transformersJs: false },
  { modelType: "mixtral_8x22b-instruct-v01", repo: "mistralai/Mixtral-8x22B-Instruct-v0.1", revision: "main", family: "mixtral", task: "text-generation", transformersJs: false },
  { modelType: "phi_3-mini", repo: "microsoft/Phi-3-mini-4k-instruct", revision: "main", family: "phi3", task: "text-generation", transformersJs: true },
  { modelType: "qwen_w0.5b", repo: "Qwen/Qwen1.5-0.5B", revision: "main", family: "qwen2", task: "text-generation", transformersJs: true },
  { modelType: "qwen_w1.8b", repo: "Qwen/Qwen1.5-1.8B", revision: "main", family: "qwen2", task: "text-generation", transformersJs: true },
  { modelType: "qwen_w4b", repo: "Qwen/Qwen1.5-4B", revision: "main", family: "qwen2", task: "text-generation", transformersJs: true },
  { modelType: "qwen_w7b", repo: "Qwen/Qwen1.5-7B", revision: "main", family: "qwen2", task: "text-generation", transformersJs: true },
  { modelType: "qwen_w14b", repo: "Qwen/Qwen1.5-14B", revision: "main", family: "qwen2", task: "text-generation", transformersJs: true },
  { modelType: "qwen_w72b", repo: "Qwen/Qwen1.5-72B", revision: "main", family: "qwen2", task: "text-generation", transformersJs: true },
  { modelType: "qwen_moe_a2.7b", repo: "Qwen/Qwen1.5-MoE-A2.7B", revision: "main", family: "qwen2_moe", task: "text-generation", transformersJs: true },
  { modelType: "stable_diffusion_v1-5", repo: "runwayml/stable-diffusion-v1-5", revision: undefined, family: "stable_diffusion", task: "text-to-image", transformersJs: false },
  { modelType: "stable_diffusion_v2-1", repo: "stabilityai/stable-diffusion-2-1", revision: undefined, family: "stable_diffusion", task: "text-to-image", transformersJs: false },
  { modelType: "stable_diffusion_xl", repo: "stabilityai/stable-diffusion-xl-base-1.0", revision: undefined, family: "stable_diffusion", task: "text-to-image", transformersJs: false },
  { modelType: "stable_diffusion_turbo", repo: "stabilityai/sdxl-turbo", revision: undefined, family: "stable_diffusion", task: "text-to-image", transformersJs: false },
  { modelType: "quantized_7b", repo: "TheBloke/Llama-2-7B-GGML", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "llama-2-7b.ggmlv3.q4_0.bin", tokenizerRepo: "hf-internal-testing/llama-tokenizer", ggmlGqa: 1 } },
  { modelType: "quantized_13b", repo: "TheBloke/Llama-2-13B-GGML", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "llama-2-13b.ggmlv3.q4_0.bin", tokenizerRepo: "hf-internal-testing/llama-tokenizer", ggmlGqa: 1 } },
  { modelType: "quantized_70b", repo: "TheBloke/Llama-2-70B-GGML", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "llama-2-70b.ggmlv3.q4_0.bin", tokenizerRepo: "hf-internal-testing/llama-tokenizer", ggmlGqa: 8 } },
  { modelType: "quantized_7b-chat", repo: "TheBloke/Llama-2-7B-Chat-GGML", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "llama-2-7b-chat.ggmlv3.q4_0.bin", tokenizerRepo: "hf-internal-testing/llama-tokenizer", ggmlGqa: 1 } },
  { modelType: "quantized_13b-chat", repo: "TheBloke/Llama-2-13B-Chat-GGML", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "llama-2-13b-chat.ggmlv3.q4_0.bin", tokenizerRepo: "hf-internal-testing/llama-tokenizer", ggmlGqa: 1 } },
  { modelType: "quantized_70b-chat", repo: "TheBloke/Llama-2-70B-Chat-GGML", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "llama-2-70b-chat.ggmlv3.q4_0.bin", tokenizerRepo: "hf-internal-testing/llama-tokenizer", ggmlGqa: 8 } },
  { modelType: "quantized_7b-code", repo: "TheBloke/CodeLlama-7B-GGUF", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "codellama-7b.Q8_0.gguf", tokenizerRepo: "hf-internal-testing/llama-tokenizer" } },
  { modelType: "quantized_13b-code", repo: "TheBloke/CodeLlama-13B-GGUF", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "codellama-13b.Q8_0.gguf", tokenizerRepo: "hf-internal-testing/llama-tokenizer" } },
  { modelType: "quantized_32b-code", repo: "TheBloke/CodeLlama-34B-GGUF", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "codellama-34b.Q8_0.gguf", tokenizerRepo: "hf-internal-testing/llama-tokenizer" } },
  { modelType: "quantized_7b-leo", repo: "TheBloke/leo-hessianai-7B-GGUF", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "leo-hessianai-7b.Q4_K_M.gguf", tokenizerRepo: "LeoLM/leo-hessianai-7b" } },
  { modelType: "quantized_13b-leo", repo: "TheBloke/leo-hessianai-13B-GGUF", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "leo-hessianai-13b.Q4_K_M.gguf", tokenizerRepo: "LeoLM/leo-hessianai-13b" } },
  { modelType: "quantized_7b-mistral", repo: "TheBloke/Mistral-7B-v0.1-GGUF", revision: "main", family: "mistral", task: "text-generation", transformersJs: true, quantized: { file: "mistral-7b-v0.1.Q4_K_S.gguf", tokenizerRepo: "mistralai/Mistral-7B-v0.1" } },
  { modelType: "quantized_7b-mistral-instruct", repo: "TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF", revision: "main", family: "mistral", task: "text-generation", transformersJs: true, quantized: { file: "mistral-7b-instruct-v0.1.Q4_K_S.gguf", tokenizerRepo: "mistralai/Mistral-7B-v0.1" } },
  { modelType: "quantized_7b-mistral-instruct-v0.2", repo: "TheBloke/Mistral-7B-Instruct-v0.2-GGUF", revision: "main", family: "mistral", task: "text-generation", transformersJs: true, quantized: { file: "mistral-7b-instruct-v0.2.Q4_K_S.gguf", tokenizerRepo: "mistralai/Mistral-7B-v0.1" } },
  { modelType: "quantized_7b-zephyr-a", repo: "TheBloke/zephyr-7B-alpha-GGUF", revision: "main", family: "mistral", task: "text-generation", transformersJs: true, quantized: { file: "zephyr-7b-alpha.Q4_K_M.gguf", tokenizerRepo: "mistralai/Mistral-7B-v0.1" } },
  { modelType: "quantized_7b-zephyr-b", repo: "TheBloke/zephyr-7B-beta-GGUF", revision: "main", family: "mistral", task: "text-generation", transformersJs: true, quantized: { file: "zephyr-7b-beta.Q4_K_M.gguf", tokenizerRepo: "mistralai/Mistral-7B-v0.1" } },
  { modelType: "quantized_7b-open-chat-3.5", repo: "TheBloke/openchat_3.5-GGUF", revision: "main", family: "mistral", task: "text-generation", transformersJs: true, quantized: { file: "openchat_3.5.Q4_K_M.gguf", tokenizerRepo: "openchat/openchat_3.5" } },
  { modelType: "quantized_7b-starling-a", repo: "TheBloke/Starling-LM-7B-alpha-GGUF", revision: "main", family: "mistral", task: "text-generation", transformersJs: true, quantized: { file: "starling-lm-7b-alpha.Q4_K_M.gguf", tokenizerRepo: "berkeley-nest/Starling-LM-7B-alpha" } },
  { modelType: "quantized_mixtral", repo: "TheBloke/Mixtral-8x7B-v0.1-GGUF", revision: "main", family: "mixtral", task: "text-generation", transformersJs: false, quantized: { file: "mixtral-8x7b-v0.1.Q4_K_M.gguf", tokenizerRepo: "mistralai/Mixtral-8x7B-v0.1" } },
  { modelType: "quantized_mixtral-instruct", repo: "TheBloke/Mistral-7B-Instruct-v0.1-GGUF", revision: "main", family: "mixtral", task: "text-generation", transformersJs: false, quantized: { file: "mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf", tokenizerRepo: "mistralai/Mixtral-8x7B-Instruct-v0.1" } },
  { modelType: "quantized_llama3-8b", repo: "QuantFactory/Meta-Llama-3-8B-GGUF", revision: "main", family: "llama", task: "text-generation", transformersJs: true, quantized: { file: "Meta-Llama-3-8B.Q4_K_S.gguf", tokenizerRepo: "meta-llama/Meta-Llama-3-8B" } },
];

const BY_TYPE: ReadonlyMap<string, CatalogEntry> = new Map(MODEL_CATALOG.map((e) => [e.modelType, e]));

/** The catalog entry of a seed `model_type`, or undefined for a custom name. */
export function catalogEntry(modelType: string): CatalogEntry | undefined {
  return BY_TYPE.get(modelType);
}

export function isKnownModelType(modelType: string): boolean {
  return BY_TYPE.has(modelType);
}
