/**
 * One streamed /v1/completions request to one upstream. Yields the text of each event and returns
 * how the generation ended. Every failure is an UpstreamError that says whether another attempt
 * may succeed (connection refused or lost, timeouts, 5xx/429, a broken or garbled stream) or not
 * (the upstream refused the request itself: other 4xx), so the engine can retry or give up.
 */
import { oneLineError } from "../../log/one-line.ts";
import { SseLimitError, sseEvents } from "./sse.ts";

export interface Upstream {
  /** Base URL as configured (may carry credentials: never print it, print `display`). */
  base: string;
  /** The URL without user info, for logs and errors. */
  display: string;
}

export interface CompletionEnd {
  finishReason: "eos" | "length";
  usage: { promptTokens: number; completionTokens: number } | undefined;
}

export class UpstreamError extends Error {
  override name = "UpstreamError";
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  apiKey: string | undefined;
  timeoutMs: number;
  stallTimeoutMs: number;
  signal?: AbortSignal;
}

const MAX_EVENT_BYTES = 1 << 20;
const MAX_ERROR_BODY = 4096;

export function displayUrl(base: string): string {
  try {
    const u = new URL(base);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, "")}`;
  } catch {
    return "(invalid url)";
  }
}

/** The error message an OpenAI-compatible server put in an error body (several spellings). */
export function errorMessage(text: string): string {
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    const e = j.error;
    if (typeof e === "string") return e;
    if (e && typeof e === "object" && typeof (e as Record<string, unknown>).message === "string") return (e as { message: string }).message;
    if (typeof j.message === "string") return j.message;
    if (typeof j.detail === "string") return j.detail;
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 200) || "(empty body)";
}

export function headers(apiKey: string | undefined, json: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: json ? "application/json" : "text/event-stream" };
  if (json) h["content-type"] = "application/json";
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  return h;
}

type Why = "timeout" | "stall";

export async function* streamCompletion(up: Upstream, body: string, o: RequestOptions): AsyncGenerator<string, CompletionEnd, void> {
  const ctl = new AbortController();
  let why: Why | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number, w: Why) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      why = w;
      ctl.abort(w);
    }, ms);
  };
  const onAbort = () => ctl.abort(o.signal?.reason);
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const cause = (e: unknown, phase: string): Error => {
    if (o.signal?.aborted) return e as Error;
    if (why === "timeout") return new UpstreamError(`${up.display}: no answer within ${o.timeoutMs} ms`, true);
    if (why === "stall") return new UpstreamError(`${up.display}: stream stalled (no data for ${o.stallTimeoutMs} ms)`, true);
    if (e instanceof UpstreamError) return e;
    if (e instanceof SseLimitError) return new UpstreamError(`${up.display}: ${e.message}`, true);
    return new UpstreamError(`${up.display}: ${phase}: ${oneLineError(e, 200)}`, true);
  };
  try {
    arm(o.timeoutMs, "timeout");
    let res: Response;
    try {
      res = await fetch(`${up.base}/v1/completions`, { method: "POST", headers: headers(o.apiKey, true), body, signal: ctl.signal });
    } catch (e) {
      throw cause(e, "cannot connect");
    }
    if (!res.ok) {
      const text = await readCapped(res).catch(() => "");
      const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
      throw new UpstreamError(`${up.display}: HTTP ${res.status}: ${errorMessage(text)}`, retryable, res.status);
    }
    if (!res.body) throw new UpstreamError(`${up.display}: empty response body`, true);
    const type = res.headers.get("content-type") ?? "";
    if (!type.includes("text/event-stream")) {
      const text = await readCapped(res).catch(() => "");
      throw new UpstreamError(`${up.display}: expected an event stream, got ${type || "no content type"}: ${text.slice(0, 80).replace(/\s+/g, " ")}`, true);
    }
    let finishReason: CompletionEnd["finishReason"] | undefined;
    let usage: CompletionEnd["usage"];
    let first = true;
    try {
      // Until the first event the request timeout runs on (prefill); after it, silence is a stall.
      for await (const data of sseEvents(res.body, { maxEventBytes: MAX_EVENT_BYTES, onRead: () => first || arm(o.stallTimeoutMs, "stall") })) {
        first = false;
        arm(o.stallTimeoutMs, "stall");
        if (data.trim() === "[DONE]") return { finishReason: finishReason ?? missingFinish(up), usage };
        const ev = parseEvent(up, data);
        if (ev.usage) usage = ev.usage;
        if (ev.text) yield ev.text;
        if (ev.finish) finishReason = ev.finish;
      }
    } catch (e) {
      throw cause(e, "stream broken");
    }
    // Closed without [DONE]: complete only if the final event said how it ended.
    if (finishReason) return { finishReason, usage };
    throw new UpstreamError(`${up.display}: stream closed before the generation finished`, true);
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener("abort", onAbort);
    if (!ctl.signal.aborted) ctl.abort("done");
  }
}

function missingFinish(up: Upstream): never {
  throw new UpstreamError(`${up.display}: stream ended with [DONE] but no finish_reason`, true);
}

interface ParsedEvent {
  text: string;
  finish: CompletionEnd["finishReason"] | undefined;
  usage: CompletionEnd["usage"];
}

function parseEvent(up: Upstream, data: string): ParsedEvent {
  let j: unknown;
  try {
    j = JSON.parse(data);
  } catch {
    throw new UpstreamError(`${up.display}: invalid JSON in the stream: ${JSON.stringify(data.slice(0, 60))}`, true);
  }
  if (j === null || typeof j !== "object" || Array.isArray(j)) throw new UpstreamError(`${up.display}: stream event is not an object`, true);
  const o = j as Record<string, unknown>;
  // vLLM and others report errors that happen after the 200 as an event with an `error` object.
  if (o.error !== undefined && o.error !== null) throw new UpstreamError(`${up.display}: upstream error mid-stream: ${errorMessage(data)}`, true);
  const choices = o.choices;
  if (!Array.isArray(choices)) throw new UpstreamError(`${up.display}: stream event without a choices array`, true);
  let text = "";
  let finish: ParsedEvent["finish"];
  for (const c of choices) {
    if (c === null || typeof c !== "object") throw new UpstreamError(`${up.display}: malformed choice in the stream`, true);
    const ch = c as Record<string, unknown>;
    if (ch.index !== undefined && ch.index !== 0) continue;
    if (ch.text !== undefined && ch.text !== null && typeof ch.text !== "string") throw new UpstreamError(`${up.display}: choice text is not a string`, true);
    text += (ch.text as string | undefined) ?? "";
    const f = ch.finish_reason;
    if (f === "stop" || f === "eos") finish = "eos";
    else if (f === "length") finish = "length";
    else if (f !== undefined && f !== null) throw new UpstreamError(`${up.display}: generation ended with finish_reason ${JSON.stringify(f)}`, true);
  }
  return { text, finish, usage: parseUsage(o.usage) };
}

function parseUsage(u: unknown): CompletionEnd["usage"] {
  if (u === null || typeof u !== "object") return undefined;
  const p = (u as Record<string, unknown>).prompt_tokens;
  const c = (u as Record<string, unknown>).completion_tokens;
  if (!Number.isSafeInteger(p) || !Number.isSafeInteger(c) || (p as number) < 0 || (c as number) < 0) return undefined;
  return { promptTokens: p as number, completionTokens: c as number };
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let out = "";
  try {
    while (out.length < MAX_ERROR_BODY) {
      const { done, value } = await reader.read();
      if (done) break;
      out += dec.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out.slice(0, MAX_ERROR_BODY);
}
