/**
 * A small OpenAI-compatible completion server that speaks the response shapes and quirks of one
 * engine kind (vLLM, SGLang, llama.cpp server, Ollama, OpenAI), for the remote-engine tests. It is
 * a substitute for the real engines, which cannot run here; the modelled rules are listed in
 * docs/remote-engines.md ("The test upstream") with the documentation they come from.
 *
 * Its "model" is a deterministic word generator: the text is a function of the prompt and of the
 * sampling parameters *this kind honours* (e.g. Ollama's /v1 ignores top_k, llama.cpp keeps only
 * 32 seed bits), so tests can see which parameters arrived. Faults are switchable at run time:
 * garbage events, a stall, a connection closed mid-stream, HTTP 500s, a failing health endpoint.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type FakeKind = "vllm" | "sglang" | "llamacpp" | "ollama" | "openai";
export type Fault = "none" | "garbage" | "stall" | "close" | "http500" | "json";

export interface UpstreamOptions {
  kind: FakeKind;
  /** Model names served (Ollama lists them with a tag: `name:latest`). */
  model: string;
  /** Delay before each streamed token. */
  tokenDelayMs?: number;
  /** Required bearer token (OpenAI always needs one; the others only when started with --api-key). */
  apiKey?: string;
  /** Tokens counted for `usage` (default: words). */
  countTokens?: (text: string) => number;
  version?: string;
}

export interface FakeUpstream {
  url: string;
  port: number;
  /** Requests received at /v1/completions, bodies as parsed JSON (raw text kept for bigint seeds). */
  requests: { body: Record<string, unknown>; raw: string; authorization: string | undefined }[];
  fault: Fault;
  /** Fault only after this many tokens were streamed (for stall/close). */
  faultAfterTokens: number;
  healthy: boolean;
  /** Currently streaming responses. */
  inFlight: number;
  maxInFlight: number;
  stop(): Promise<void>;
}

const WORDS = "the a little dog cat sun ran jumped happy big tree bird sky over under and then saw played with ball red blue green day night".split(" ");

/** What the kind actually uses from a request, with its defaults where a field is absent or ignored. */
function effective(kind: FakeKind, b: Record<string, unknown>, raw: string): { ok: true; key: string } | { ok: false; status: number; message: string } {
  const num = (k: string, d: number) => (typeof b[k] === "number" ? (b[k] as number) : d);
  const seedText = /"seed"\s*:\s*(-?\d+)/.exec(raw)?.[1];
  let seed = seedText === undefined ? "random" : BigInt(seedText);
  const temperature = num("temperature", kind === "llamacpp" ? 0.8 : 1);
  const topP = num("top_p", kind === "llamacpp" ? 0.95 : 1);
  let topK: number;
  let penalty: string;
  switch (kind) {
    case "vllm":
    case "sglang": {
      topK = num("top_k", -1);
      if (topK === 0 || topK < -1) return { ok: false, status: 400, message: `top_k must be -1 (disable), or at least 1, got ${topK}.` };
      if (typeof seed === "bigint" && (seed < -(1n << 63n) || seed >= 1n << 63n)) return { ok: false, status: 400, message: "seed: Input should be less than or equal to 9223372036854775807" };
      penalty = `rep=${num("repetition_penalty", 1)}`;
      break;
    }
    case "llamacpp": {
      topK = num("top_k", 40);
      // llama.cpp: 32-bit seeds; 0xFFFFFFFF (LLAMA_DEFAULT_SEED) = random.
      if (typeof seed === "bigint") seed = seed & 0xffff_ffffn;
      if (seed === 0xffff_ffffn) seed = "random";
      penalty = `rep=${num("repeat_penalty", 1)}/${num("repeat_last_n", 64)} minp=${num("min_p", 0.05)}`;
      break;
    }
    case "ollama":
    case "openai":
      // Not accepted on the OpenAI-compatible endpoint: the model's defaults apply.
      topK = 40;
      penalty = kind === "ollama" ? "rep=1.1/64" : "none";
      break;
  }
  if (seed === "random") seed = BigInt(Math.floor(Math.random() * 2 ** 48));
  return { ok: true, key: `${JSON.stringify(b.prompt)}|${temperature}|${topP}|${topK}|${penalty}|${seed}` };
}

function words(key: string, maxTokens: number): { pieces: string[]; finish: "stop" | "length" } {
  const h = createHash("sha256").update(key).digest();
  // The "EOS" comes after 4..27 words; max_tokens may cut earlier.
  const natural = 4 + (h[0]! % 24);
  const n = Math.min(natural, maxTokens);
  const pieces: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = createHash("sha256").update(h).update(String(i)).digest();
    pieces.push(" " + WORDS[x[0]! % WORDS.length]!);
  }
  return { pieces, finish: n < natural ? "length" : "stop" };
}

function send(res: ServerResponse, status: number, body: unknown, type = "application/json"): void {
  res.writeHead(status, { "content-type": type });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

/** Each kind's error body shape. */
function errorBody(kind: FakeKind, status: number, message: string): unknown {
  if (kind === "vllm") return { object: "error", message, type: "BadRequestError", param: null, code: status };
  if (kind === "llamacpp") return { error: { code: status, message, type: status === 503 ? "unavailable_error" : "invalid_request_error" } };
  if (kind === "ollama") return { error: { message, type: "api_error", param: null, code: null } };
  return { error: { message, type: "invalid_request_error", param: null, code: null } };
}

export async function startUpstream(o: UpstreamOptions, port = 0): Promise<FakeUpstream> {
  const count = o.countTokens ?? ((t: string) => t.split(/\s+/).filter(Boolean).length);
  const up: FakeUpstream = {
    url: "",
    port: 0,
    requests: [],
    fault: "none",
    faultAfterTokens: 2,
    healthy: true,
    inFlight: 0,
    maxInFlight: 0,
    stop: async () => {},
  };
  const served = o.kind === "ollama" && !o.model.includes(":") ? `${o.model}:latest` : o.model;
  const authorized = (req: IncomingMessage) => {
    const need = o.apiKey ?? (o.kind === "openai" ? "sk-test" : undefined);
    return need === undefined || req.headers.authorization === `Bearer ${need}`;
  };

  async function completions(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    let b: Record<string, unknown>;
    try {
      b = JSON.parse(raw);
    } catch {
      return send(res, 400, errorBody(o.kind, 400, "invalid JSON body"));
    }
    if (o.kind !== "llamacpp" && b.model !== o.model && b.model !== served) {
      return send(res, 404, errorBody(o.kind, 404, o.kind === "ollama" ? `model "${String(b.model)}" not found, try pulling it first` : `The model \`${String(b.model)}\` does not exist.`));
    }
    if (up.fault === "http500") return send(res, 500, errorBody(o.kind, 500, "internal server error"));
    if (up.fault === "json") return send(res, 200, { id: "x", choices: [{ text: "not streamed", finish_reason: "stop" }] });
    const e = effective(o.kind, b, raw);
    if (!e.ok) return send(res, e.status, errorBody(o.kind, e.status, e.message));
    const maxTokens = typeof b.max_tokens === "number" ? b.max_tokens : 16;
    const { pieces, finish } = words(e.key, maxTokens);
    const includeUsage = typeof b.stream_options === "object" && b.stream_options !== null && (b.stream_options as Record<string, unknown>).include_usage === true;
    const promptText = typeof b.prompt === "string" ? b.prompt : "";
    const usage = { prompt_tokens: Array.isArray(b.prompt) ? b.prompt.length : count(promptText), completion_tokens: o.countTokens ? o.countTokens(pieces.join("")) : pieces.length, total_tokens: 0 };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const created = Math.floor(Date.now() / 1000);
    const id = `cmpl-${created}`;
    const chunk = (text: string, finish_reason: string | null, extra: Record<string, unknown> = {}) => {
      const choice: Record<string, unknown> = { index: 0, text, logprobs: null, finish_reason };
      if (o.kind === "vllm") choice.stop_reason = null;
      const base: Record<string, unknown> =
        o.kind === "ollama"
          ? { id, object: "text_completion", created, model: served, system_fingerprint: "fp_ollama", choices: [choice] }
          : o.kind === "llamacpp"
            ? { choices: [choice], created, model: String(b.model ?? "model.gguf"), system_fingerprint: "b4000-fake", object: "text_completion", id }
            : { id, object: "text_completion", created, model: o.model, choices: [choice], ...(o.kind === "vllm" ? { usage: null } : {}) };
      return `data: ${JSON.stringify({ ...base, ...extra })}\n\n`;
    };
    if (b.stream !== true) {
      return send(res, 200, { id, object: "text_completion", created, model: o.model, choices: [{ index: 0, text: pieces.join(""), finish_reason: finish }], usage });
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    up.inFlight++;
    up.maxInFlight = Math.max(up.maxInFlight, up.inFlight);
    try {
      for (const [i, p] of pieces.entries()) {
        if (o.tokenDelayMs) await Bun.sleep(o.tokenDelayMs);
        if (res.destroyed) return;
        if (i === up.faultAfterTokens) {
          if (up.fault === "garbage") {
            res.write("data: {\"choices\": [{\"text\": <<<not json>>>\n\n");
            return void res.end();
          }
          if (up.fault === "close") return void res.socket?.destroy();
          if (up.fault === "stall") return; // headers and some tokens sent; nothing more, connection open
        }
        const last = i === pieces.length - 1;
        if (last && o.kind === "llamacpp") {
          // llama.cpp puts usage and timings on its final chunk whether or not include_usage was asked.
          res.write(chunk(p, finish, { usage, timings: { predicted_n: pieces.length, predicted_ms: 1 } }));
        } else res.write(chunk(p, last ? finish : null));
      }
      if (o.kind !== "llamacpp" && includeUsage) {
        res.write(`data: ${JSON.stringify({ id, object: "text_completion", created, model: o.kind === "ollama" ? served : o.model, choices: [], usage })}\n\n`);
      }
      res.write("data: [DONE]\n\n");
      res.end();
    } finally {
      up.inFlight--;
    }
  }

  function route(req: IncomingMessage, res: ServerResponse, raw: string): void | Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "POST" && path === "/v1/completions") {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw);
      } catch {
        /* answered below */
      }
      up.requests.push({ body, raw, authorization: req.headers.authorization });
    }
    if (!authorized(req)) return send(res, 401, errorBody(o.kind, 401, "Unauthorized"));
    if (req.method === "POST" && path === "/v1/completions") return completions(req, res, raw);
    if (req.method !== "GET") return send(res, 404, errorBody(o.kind, 404, "not found"));
    const models = { object: "list", data: [{ id: served, object: "model", created: 0, owned_by: o.kind, ...(o.kind === "vllm" ? { max_model_len: 4096 } : {}) }] };
    switch (o.kind === "openai" && path === "/health" ? "" : path) {
      case "/v1/models":
        return send(res, 200, models);
      case "/health":
        if (o.kind === "ollama") break;
        if (!up.healthy) return send(res, 503, errorBody(o.kind, 503, "Loading model"));
        return o.kind === "llamacpp" ? send(res, 200, { status: "ok" }) : send(res, 200, "", "text/plain");
      case "/version":
        if (o.kind === "vllm") return send(res, 200, { version: o.version ?? "0.6.4" });
        break;
      case "/get_server_info":
        if (o.kind === "sglang") return send(res, 200, { version: o.version ?? "0.4.0", model_path: o.model });
        break;
      case "/props":
        if (o.kind === "llamacpp") return send(res, 200, { build_info: o.version ?? "b4000-fake", total_slots: 4, model_path: o.model });
        break;
      case "/api/version":
        if (o.kind === "ollama") return up.healthy ? send(res, 200, { version: o.version ?? "0.5.1" }) : send(res, 500, { error: "unhealthy" });
        break;
      case "/":
        if (o.kind === "ollama") return send(res, 200, "Ollama is running", "text/plain");
        break;
    }
    return send(res, 404, errorBody(o.kind, 404, `not found: ${path}`));
  }

  const server: Server = createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (raw += c));
    req.on("end", () => {
      Promise.resolve(route(req, res, raw)).catch(() => res.destroy());
    });
  });
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  const addr = server.address() as AddressInfo;
  up.port = addr.port;
  up.url = `http://127.0.0.1:${addr.port}`;
  up.stop = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return up;
}
