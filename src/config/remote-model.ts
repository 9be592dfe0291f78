/**
 * A `[[models]]` table that names a remote engine (`engine = "vllm"` …) instead of a local model:
 *
 *   [[inference.models]]
 *   model_id = "llama3_8b"                 # the on-chain name jobs ask for
 *   engine = "vllm"                        # vllm | sglang | llamacpp | ollama | atoma | openai
 *   urls = ["http://gpu1:8000", "http://gpu2:8000"]   # or url = "…"; a trailing /v1 is accepted
 *   served_model = "meta-llama/Meta-Llama-3-8B"       # default: model_id
 *   api_key = "…"                          # optional bearer token (secret)
 *   max_concurrent = 8                     # per upstream (default 4)
 *   timeout_ms = 60000 / stall_timeout_ms = 30000 / retries = 2 / health_interval_ms = 5000
 *   tokenizer = "/models/llama3_8b"        # optional: checks the upstream's token counts
 *   context_length = 8192                  # optional: default what the upstream reports
 */
import { showValue } from "../log/show-value.ts";
import { registerSecret } from "../log/logger.ts";
import { REMOTE_KINDS, type RemoteEngineConfig } from "../engine/remote/types.ts";
import { describeValue } from "./errors.ts";
import { resolvePath, type Section } from "./fields.ts";

function baseUrl(t: Section, key: string, v: unknown): string {
  const expected = "an http(s) base URL of an OpenAI-compatible server, e.g. http://gpu1:8000";
  if (typeof v !== "string") t.fail(key, `got ${describeValue(v)}`, expected);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    t.fail(key, `${JSON.stringify(v)} is not a URL`, expected);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") t.fail(key, `unsupported scheme ${JSON.stringify(u.protocol)}`, expected);
  if (u.search || u.hash) t.fail(key, "has a query or fragment", expected);
  if (u.password) registerSecret(u.password);
  if (u.username || u.password) registerSecret(v);
  // Paths are joined as <base>/v1/…: accept the form people copy from engine docs (…/v1).
  return v.replace(/\/+$/, "").replace(/\/v1$/, "");
}

export function parseRemote(t: Section, cwd: string): RemoteEngineConfig {
  const kind = t.oneOf("engine", REMOTE_KINDS);
  if (t.has("url") && t.has("urls")) t.fail("urls", "both url and urls given", "only one of them");
  let urls: string[];
  if (t.has("urls")) {
    const raw = t.peek("urls");
    if (!Array.isArray(raw) || raw.length === 0) t.fail("urls", `got ${describeValue(raw)}`, "a non-empty array of base URLs");
    urls = raw.map((v, i) => baseUrl(t, `urls[${i}]`, v));
  } else {
    if (!t.has("url")) t.fail("url", "missing", `url = "<base URL>" or urls = [...] for engine = "${kind}"`);
    urls = [baseUrl(t, "url", t.peek("url"))];
  }
  const dup = urls.find((u, i) => urls.indexOf(u) !== i);
  if (dup !== undefined) t.fail("urls", `${showValue(dup, 120)} is listed twice`, "each upstream once");
  const modelId = t.str("model_id");
  const servedModel = t.str("served_model", modelId);
  if (servedModel === "") t.fail("served_model", "empty name", "the model name the upstream serves");
  const apiKey = t.optSecret("api_key");
  const tokenizer = t.optStr("tokenizer");
  return {
    kind,
    urls,
    servedModel,
    apiKey,
    maxConcurrent: t.int("max_concurrent", { min: 1, max: 4096, def: 4 }),
    timeoutMs: t.int("timeout_ms", { min: 1, max: 3_600_000, def: 60_000 }),
    stallTimeoutMs: t.int("stall_timeout_ms", { min: 1, max: 3_600_000, def: 30_000 }),
    retries: t.int("retries", { min: 0, max: 20, def: 2 }),
    healthIntervalMs: t.int("health_interval_ms", { min: 100, max: 3_600_000, def: 5000 }),
    contextLength: t.has("context_length") ? t.int("context_length", { min: 1, max: 1 << 24 }) : undefined,
    tokenizer: tokenizer === undefined ? undefined : resolvePath(tokenizer, cwd),
  };
}
