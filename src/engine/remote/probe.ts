/**
 * Questions asked of an upstream outside generation: is it up (the kind's health endpoint), does it
 * serve the configured model (GET /v1/models), and which version is it (where the kind says).
 * Used by the pool's health loop and by `doctor`.
 */
import { oneLineError } from "../../log/one-line.ts";
import { errorMessage, headers, type Upstream } from "./client.ts";
import type { KindQuirks } from "./kinds.ts";

async function get(up: Upstream, path: string, apiKey: string | undefined, timeoutMs: number, rpc = false): Promise<{ status: number; text: string }> {
  const init: RequestInit = rpc
    ? { method: "POST", headers: headers(apiKey, true), body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "node_info" }) }
    : { method: "GET", headers: headers(apiKey, true) };
  const res = await fetch(`${up.base}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = (await res.text()).slice(0, 1 << 20);
  return { status: res.status, text };
}

/** null when the upstream answers its health endpoint, else why not (one line). */
export async function checkHealth(up: Upstream, q: KindQuirks, apiKey: string | undefined, timeoutMs: number): Promise<string | null> {
  try {
    const r = await get(up, q.healthPath, apiKey, timeoutMs);
    if (r.status >= 200 && r.status < 300) return null;
    return `health check ${q.healthPath}: HTTP ${r.status}: ${errorMessage(r.text)}`;
  } catch (e) {
    return `health check ${q.healthPath}: ${oneLineError(e, 160)}`;
  }
}

export interface UpstreamReport {
  url: string;
  ok: boolean;
  /** reachable / serves the model / version, or what failed. */
  detail: string;
  version?: string;
  models?: string[];
}

/** Whether `served` is among `ids` (Ollama lists `name:tag`; `name` means `name:latest`). */
export function servesModel(ids: string[], served: string, q: KindQuirks): boolean {
  if (ids.includes(served)) return true;
  if (q.kind === "ollama" && !served.includes(":")) return ids.includes(`${served}:latest`);
  return false;
}

export interface ModelList {
  ids: string[];
  /** The served model's context window where the listing says (vLLM/SGLang max_model_len, atoma-node context_length, llama.cpp meta.n_ctx_train). */
  contextLength: number | undefined;
}

export async function listModels(up: Upstream, served: string, apiKey: string | undefined, timeoutMs: number): Promise<ModelList> {
  const r = await get(up, "/v1/models", apiKey, timeoutMs);
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${errorMessage(r.text)}`);
  const data = (JSON.parse(r.text) as { data?: unknown }).data;
  if (!Array.isArray(data)) throw new Error("no data array");
  const rows = data.filter((m): m is Record<string, unknown> => m !== null && typeof m === "object");
  const ids = rows.map((m) => String(m.id ?? "")).filter(Boolean);
  const row = rows.find((m) => m.id === served) ?? (rows.length === 1 ? rows[0] : undefined);
  const meta = row?.meta as Record<string, unknown> | undefined;
  const n = [row?.max_model_len, row?.context_length, meta?.n_ctx_train].find((v) => Number.isSafeInteger(v) && (v as number) > 0);
  return { ids, contextLength: n as number | undefined };
}

export async function inspectUpstream(up: Upstream, q: KindQuirks, served: string, apiKey: string | undefined, timeoutMs = 5000): Promise<UpstreamReport> {
  const health = await checkHealth(up, q, apiKey, timeoutMs);
  if (health) return { url: up.display, ok: false, detail: `not reachable: ${health}` };
  let listed: ModelList;
  try {
    listed = await listModels(up, served, apiKey, timeoutMs);
  } catch (e) {
    return { url: up.display, ok: false, detail: `GET /v1/models: ${oneLineError(e, 160)}` };
  }
  const ids = listed.ids;
  let version: string | undefined;
  if (q.version) {
    try {
      const r = await get(up, q.version.path, apiKey, timeoutMs, q.version.rpc);
      if (r.status === 200) version = q.version.pick(JSON.parse(r.text));
    } catch {
      /* a version is nice to have */
    }
  }
  const v = version ? `, version ${version}` : q.version ? ", version not reported" : "";
  if (!servesModel(ids, served, q)) {
    // llama.cpp answers every request with its one loaded model whatever the name.
    if (!q.checksModelName) return { url: up.display, ok: true, detail: `reachable, serves ${ids.join(", ") || "(none listed)"} (llama.cpp ignores the model name)${v}`, version, models: ids };
    return { url: up.display, ok: false, detail: `reachable but does not serve ${JSON.stringify(served)} (serves ${ids.join(", ") || "nothing"})${v}`, version, models: ids };
  }
  return { url: up.display, ok: true, detail: `reachable, serves ${served}${v}`, version, models: ids };
}
