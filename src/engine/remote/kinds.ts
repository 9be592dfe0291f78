/**
 * What differs between the OpenAI-compatible servers we put behind the node, one record per kind:
 * how the job's sampling parameters are spelled (and which cannot be passed at all), which
 * endpoints answer health and version questions, and whether prompts may be token ids. The
 * sources for each quirk are listed in docs/remote-engines.md; the test upstream
 * (test/support/openai-upstream.ts) models the same rules.
 */
import type { SamplingParams } from "../types.ts";
import type { RemoteKind } from "./types.ts";

const U64 = 1n << 64n;
const I64_MAX = (1n << 63n) - 1n;

/** The u64 seed as the signed 64-bit integer with the same bits (OpenAI-style `seed` fields). */
export function seedAsI64(seed: bigint): bigint {
  return seed > I64_MAX ? seed - U64 : seed;
}

type Body = Record<string, unknown>;

export interface KindQuirks {
  kind: RemoteKind;
  /** Sampling fields of a /v1/completions body for these params (bigint values are sent as JSON integers). */
  sampling(p: SamplingParams): Body;
  /** Parameters that affect the output but cannot be passed (or not exactly); said once at start-up. */
  cannotHonour: string[];
  /** GET path whose 2xx answer means "up and serving". */
  healthPath: string;
  /** Where the engine reports its version, if it does. */
  version?: { path: string; rpc?: boolean; pick(json: unknown): string | undefined };
  /** `prompt` may be an array of token ids (needed for pre_prompt_tokens). */
  tokenPrompts: boolean;
  /** Whether the upstream checks the `model` field (llama.cpp serves its one model under any name). */
  checksModelName: boolean;
}

const field = (path: string[]) => (json: unknown): string | undefined => {
  let v: unknown = json;
  for (const k of path) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === "string" || typeof v === "number" ? String(v) : undefined;
};

const greedyTemp = (p: SamplingParams) => (p.temperature > 0 ? p.temperature : 0);
/** Our "disabled" top_p (≤ 0 or ≥ 1) is 1 everywhere. */
const topP = (p: SamplingParams) => (p.topP > 0 && p.topP < 1 ? p.topP : 1);

/** vLLM and SGLang take the same sampling fields. */
const vllmStyleSampling = (p: SamplingParams) => ({
  temperature: greedyTemp(p),
  top_p: topP(p),
  // -1 disables top-k (0 is refused by older vLLM releases).
  top_k: p.topK > 0 ? p.topK : -1,
  min_p: 0,
  repetition_penalty: p.repeatPenalty,
  // Both validate the seed against the int64 range.
  seed: seedAsI64(p.seed),
});

const QUIRKS: Record<RemoteKind, KindQuirks> = {
  vllm: {
    kind: "vllm",
    sampling: vllmStyleSampling,
    cannotHonour: [
      "repeat_last_n (vLLM's repetition_penalty covers the whole prompt and output, not the last n tokens)",
      "bit-exact seeds across batch compositions (continuous batching changes the numerics unless the server runs batch-invariant)",
    ],
    healthPath: "/health",
    version: { path: "/version", pick: field(["version"]) },
    tokenPrompts: true,
    checksModelName: true,
  },
  sglang: {
    kind: "sglang",
    sampling: vllmStyleSampling,
    cannotHonour: [
      "repeat_last_n (SGLang's repetition_penalty covers the whole sequence)",
      "seeded sampling unless the server runs with deterministic inference enabled (otherwise the seed may be ignored)",
    ],
    healthPath: "/health",
    version: { path: "/get_server_info", pick: field(["version"]) },
    tokenPrompts: true,
    checksModelName: true,
  },
  llamacpp: {
    kind: "llamacpp",
    sampling: (p) => ({
      temperature: greedyTemp(p),
      top_p: topP(p),
      // llama.cpp defaults are top_k 40, top_p 0.95, min_p 0.05: every sampler is set explicitly.
      top_k: p.topK > 0 ? p.topK : 0,
      min_p: 0,
      repeat_penalty: p.repeatPenalty,
      repeat_last_n: p.repeatLastN,
      // llama.cpp seeds are 32-bit (0xFFFFFFFF means "random").
      seed: p.seed & 0xffff_ffffn,
      // Reused KV-cache prefixes are evaluated with other batch sizes: different logits.
      cache_prompt: false,
    }),
    cannotHonour: ["the upper 32 bits of the seed (llama.cpp seeds are 32-bit; a low half of 0xFFFFFFFF means a random seed)"],
    healthPath: "/health",
    version: { path: "/props", pick: field(["build_info"]) },
    tokenPrompts: true,
    checksModelName: false,
  },
  ollama: {
    kind: "ollama",
    sampling: (p) => ({ temperature: greedyTemp(p), top_p: topP(p), seed: seedAsI64(p.seed) }),
    cannotHonour: [
      "top_k (not accepted by Ollama's OpenAI API; the model's Modelfile default applies)",
      "repeat_penalty and repeat_last_n (not accepted by Ollama's OpenAI API; the Modelfile defaults apply)",
    ],
    healthPath: "/api/version",
    version: { path: "/api/version", pick: field(["version"]) },
    tokenPrompts: false,
    checksModelName: true,
  },
  atoma: {
    kind: "atoma",
    sampling: (p) => ({
      temperature: greedyTemp(p),
      top_p: topP(p),
      top_k: p.topK,
      repeat_penalty: p.repeatPenalty,
      repeat_last_n: p.repeatLastN,
      seed: seedAsI64(p.seed),
    }),
    // Same engine, same sampler: everything is honoured (chain jobs go over JSON-RPC, atoma-rpc.ts).
    cannotHonour: [],
    healthPath: "/health",
    version: { path: "/", rpc: true, pick: field(["result", "version"]) },
    tokenPrompts: false,
    checksModelName: true,
  },
  openai: {
    kind: "openai",
    sampling: (p) => ({ temperature: greedyTemp(p), top_p: topP(p), seed: seedAsI64(p.seed) }),
    cannotHonour: [
      "top_k (not part of the OpenAI API)",
      "repeat_penalty and repeat_last_n (not part of the OpenAI API)",
      "exact seeds (OpenAI documents seeded sampling as best effort)",
    ],
    healthPath: "/v1/models",
    tokenPrompts: true,
    checksModelName: true,
  },
};

export function quirksOf(kind: RemoteKind): KindQuirks {
  return QUIRKS[kind];
}

/** JSON with bigint values written as exact integers (JSON.stringify refuses bigint). */
export function toJsonBody(body: Body): string {
  const marked = JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? `\u0000big:${v}` : v));
  return marked.replace(/"\\u0000big:(-?\d+)"/g, "$1");
}
