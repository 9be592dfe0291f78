/**
 * Configuration of a remote engine: an OpenAI-compatible server (vLLM, SGLang, llama.cpp's
 * server, Ollama, another atoma-node, or any OpenAI-compatible endpoint) that generates for one
 * `models` entry. Produced by src/config/models.ts, consumed by createRemoteEngine.
 */

export const REMOTE_KINDS = ["vllm", "sglang", "llamacpp", "ollama", "atoma", "openai"] as const;
export type RemoteKind = (typeof REMOTE_KINDS)[number];

export interface RemoteEngineConfig {
  kind: RemoteKind;
  /** Base URLs (scheme://host:port[/prefix], no trailing `/v1`); one upstream each. */
  urls: string[];
  /** The model name the upstream serves (the `model` field sent to it). */
  servedModel: string;
  /** Bearer token for the upstream. Secret: never logged. */
  apiKey: string | undefined;
  /** Concurrent requests per upstream. */
  maxConcurrent: number;
  /** Until the response headers and the first event arrive. */
  timeoutMs: number;
  /** Longest silence between two stream events before the upstream counts as stalled. */
  stallTimeoutMs: number;
  /** Further attempts on connection-level failures (another upstream where one is available). */
  retries: number;
  /** Health-check period; a failing upstream is taken out and brought back by this check. */
  healthIntervalMs: number;
  /** The model's context window; default: what the upstream's /v1/models reports, else the tokenizer folder's config. */
  contextLength: number | undefined;
  /** Optional transformers.js-layout directory whose tokenizer checks the upstream's token counts. */
  tokenizer: string | undefined;
}
