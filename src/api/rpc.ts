/**
 * JSON-RPC 2.0 dispatch (single and batch requests, notifications) and the node's methods:
 * `generate` (direct inference, never committed on chain), `generate_image` (rpc-images.ts),
 * `models`, `job`, `jobs`, `node_info`.
 */
import { EngineError, type GenerationResult } from "../engine/types.ts";
import { toGenerateRequest } from "../jobs/params.ts";
import { JOB_STATES, type JobState } from "../jobs/types.ts";
import type { Text2TextPromptParams } from "../protocol/types.ts";
import type { ApiContext } from "./server.ts";
import type { NodeMetrics } from "../log/metrics.ts";
import { ParamError, parseTextParams } from "./rpc-params.ts";
import { parseObjectId } from "../chain/object-id.ts";
import { jobView } from "./views.ts";
import { generateImage, ImageRpcError } from "./rpc-images.ts";
import { escapeControl, RawNumber, showValue } from "../log/show-value.ts";

export const RPC = { parse: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, internal: -32603 } as const;

export class JsonRpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

type Handler = (params: unknown, signal: AbortSignal) => Promise<unknown>;
export interface RpcHandlers {
  methods: Record<string, Handler>;
  compat: Handler;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

function paramsObj(p: unknown): Obj {
  if (p === undefined || p === null) return {};
  if (!isObj(p)) throw new JsonRpcError(RPC.invalidParams, "params: expected an object");
  return p;
}

export function makeHandlers(ctx: ApiContext): RpcHandlers {
  const defaultModel = ctx.models.size === 1 ? [...ctx.models.keys()][0] : undefined;

  async function generate(p: Text2TextPromptParams, signal: AbortSignal): Promise<GenerationResult> {
    const slot = ctx.models.get(p.model);
    if (!slot) {
      throw new JsonRpcError(RPC.invalidParams, `params.model: ${showValue(p.model, 60)} is not hosted here (hosted: ${[...ctx.models.keys()].join(", ") || "none"})`);
    }
    const timeout = AbortSignal.timeout(ctx.timeoutMs);
    const v = toGenerateRequest(p, AbortSignal.any([signal, timeout]));
    if (!v.ok) throw new JsonRpcError(RPC.invalidParams, v.reason);
    let res: GenerationResult;
    try {
      res = await slot.lock.with(() => slot.engine.generate(v.request));
    } catch (e) {
      if (e instanceof EngineError) throw new JsonRpcError(RPC.invalidParams, e.message);
      throw new JsonRpcError(RPC.internal, `generation failed: ${(e as Error).message}`);
    }
    // A partial text is not an answer: the time ran out (waiting for the model counts) or the client left.
    if (res.finishReason === "aborted") {
      throw new JsonRpcError(RPC.internal, timeout.aborted ? `generation timed out after ${ctx.timeoutMs} ms (request_timeout)` : "generation aborted: client disconnected");
    }
    ctx.metrics.tokens.inc({ model: p.model, source: "rpc" }, res.outputTokens);
    ctx.metrics.generation.observe({ model: p.model }, res.totalMs / 1000);
    return res;
  }

  const parse = (raw: unknown) => {
    try {
      return parseTextParams(raw, defaultModel);
    } catch (e) {
      if (e instanceof ParamError) throw new JsonRpcError(RPC.invalidParams, e.message);
      throw e;
    }
  };

  const methods: Record<string, Handler> = {
    async generate(params, signal) {
      const p = parse(params);
      const r = await generate(p, signal);
      return {
        text: r.text,
        input_tokens: r.inputTokens,
        output_tokens: r.outputTokens,
        tokens: p.prependOutputWithInput ? r.tokens : [],
        finish_reason: r.finishReason,
        truncated_tokens: r.truncatedTokens,
        time_to_first_token_ms: r.timeToFirstTokenMs,
        tokens_per_second: r.tokensPerSecond,
        total_ms: r.totalMs,
      };
    },
    async generate_image(params, signal) {
      try {
        return await generateImage(ctx.images ?? new Map(), params, signal, ctx.timeoutMs);
      } catch (e) {
        if (e instanceof ImageRpcError) throw new JsonRpcError(e.kind === "params" ? RPC.invalidParams : RPC.internal, e.message);
        throw e;
      }
    },
    async models() {
      return [...[...ctx.models.values()].map((s) => s.engine.info), ...[...(ctx.images ?? new Map()).values()].map((s) => s.engine.info)];
    },
    async job(params) {
      const o = paramsObj(params);
      const t = o.ticket_id;
      const id = typeof t === "string" ? parseObjectId(t) : null;
      if (!id) throw new JsonRpcError(RPC.invalidParams, "params.ticket_id: expected a hex object id");
      const jobs = ctx.store?.byTicket(id) ?? [];
      if (jobs.length === 0) return null;
      return { ticket_id: id, jobs: jobs.map(jobView) };
    },
    async jobs(params) {
      const o = paramsObj(params);
      if (o.state !== undefined && !JOB_STATES.includes(o.state as JobState)) {
        throw new JsonRpcError(RPC.invalidParams, `params.state: expected one of ${JOB_STATES.join(", ")}`);
      }
      if (o.limit !== undefined && !(Number.isInteger(o.limit) && (o.limit as number) >= 1 && (o.limit as number) <= 1000)) {
        throw new JsonRpcError(RPC.invalidParams, "params.limit: expected an integer in 1..1000");
      }
      return (ctx.store?.list({ state: o.state as JobState | undefined, limit: (o.limit as number | undefined) ?? 50 }) ?? []).map(jobView);
    },
    async node_info() {
      return ctx.nodeInfo();
    },
  };

  // Spec §11 shape: {"id", "sampled_node_index", "num_sampled_nodes", "params": {"Text2TextPromptParams": {...}}, ...}.
  const compat: Handler = async (request, signal) => {
    if (!isObj(request) || !isObj(request.params)) throw new JsonRpcError(RPC.invalidParams, "request.params: expected {\"Text2TextPromptParams\": {...}}");
    if ("Text2ImagePromptParams" in request.params) throw new JsonRpcError(RPC.invalidParams, "the compatibility body serves text prompts only; send images as JSON-RPC generate_image");
    const p = parse(request.params.Text2TextPromptParams);
    const r = await generate(p, signal);
    return { input_tokens: r.inputTokens, text: r.text, tokens: p.prependOutputWithInput ? r.tokens : [], time: r.totalMs / 1000, tokens_count: r.outputTokens };
  };
  return { methods, compat };
}

async function one(req: unknown, h: RpcHandlers, metrics: NodeMetrics, signal: AbortSignal): Promise<Obj | null> {
  // A RawNumber id (beyond 2^53) is echoed exactly as sent (it serialises to its source text).
  const id = isObj(req) && (typeof req.id === "string" || typeof req.id === "number" || req.id === null || req.id instanceof RawNumber) ? req.id : null;
  if (!isObj(req) || req.jsonrpc !== "2.0" || typeof req.method !== "string" || ("id" in req && id === null && req.id !== null)) {
    metrics.rpcRequests.inc({ method: "-", outcome: "invalid_request" });
    return { jsonrpc: "2.0", id, error: { code: RPC.invalidRequest, message: "invalid request: expected {\"jsonrpc\": \"2.0\", \"method\": <string>, \"params\"?, \"id\"?}" } };
  }
  const notification = !("id" in req);
  const fn = Object.hasOwn(h.methods, req.method) ? h.methods[req.method] : undefined;
  if (!fn) {
    metrics.rpcRequests.inc({ method: "-", outcome: "method_not_found" });
    return notification ? null : { jsonrpc: "2.0", id, error: { code: RPC.methodNotFound, message: `method not found: ${escapeControl(req.method.slice(0, 60))}${req.method.length > 60 ? "…" : ""}` } };
  }
  try {
    const result = await fn(req.params, signal);
    metrics.rpcRequests.inc({ method: req.method, outcome: "ok" });
    return notification ? null : { jsonrpc: "2.0", id, result: result ?? null };
  } catch (e) {
    const err = e instanceof JsonRpcError ? e : new JsonRpcError(RPC.internal, `internal error: ${(e as Error).message}`);
    metrics.rpcRequests.inc({ method: req.method, outcome: "error" });
    return notification ? null : { jsonrpc: "2.0", id, error: { code: err.code, message: err.message } };
  }
}

/** Returns the response body, or null when nothing must be sent (notifications only). */
export async function handleRpc(body: unknown, h: RpcHandlers, metrics: NodeMetrics, signal: AbortSignal): Promise<unknown> {
  if (Array.isArray(body)) {
    if (body.length === 0) return { jsonrpc: "2.0", id: null, error: { code: RPC.invalidRequest, message: "invalid request: empty batch" } };
    if (body.length > 100) return { jsonrpc: "2.0", id: null, error: { code: RPC.invalidRequest, message: "invalid request: batch larger than 100" } };
    const out: Obj[] = [];
    for (const r of body) {
      const res = await one(r, h, metrics, signal);
      if (res) out.push(res);
    }
    return out.length ? out : null;
  }
  return one(body, h, metrics, signal);
}
