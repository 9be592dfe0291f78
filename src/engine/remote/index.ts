/**
 * Entry of the remote engine kind: `createRemoteEngine` builds the upstream pool, loads the
 * optional checking tokenizer, says once which job parameters the kind cannot honour, and starts
 * the health loop. `inspectRemote` is the per-upstream check `doctor` runs.
 */
import { log } from "../../log/logger.ts";
import { oneLineError } from "../../log/one-line.ts";
import { transformersFor } from "../backends.ts";
import { EngineError, type EngineTokenizer, type ModelInfo } from "../types.ts";
import { displayUrl } from "./client.ts";
import { RemoteTextEngine } from "./engine.ts";
import { quirksOf } from "./kinds.ts";
import { UpstreamPool } from "./pool.ts";
import { checkHealth, inspectUpstream, listModels, type UpstreamReport } from "./probe.ts";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { RemoteEngineConfig } from "./types.ts";

export { RemoteTextEngine } from "./engine.ts";
export type { RemoteEngineConfig, RemoteKind } from "./types.ts";
export { REMOTE_KINDS } from "./types.ts";
export type { UpstreamReport } from "./probe.ts";

/** The start-up lines for parameters this kind cannot honour (they change outputs, so they matter for commitments). */
export function capabilityWarnings(id: string, cfg: RemoteEngineConfig): string[] {
  const q = quirksOf(cfg.kind);
  const out = q.cannotHonour.map((what) => `model ${id} (${cfg.kind}): cannot honour ${what}`);
  if (!cfg.tokenizer) {
    out.push(`model ${id} (${cfg.kind}): no tokenizer configured: token counts are the upstream's unchecked, jobs with pre_prompt_tokens fail and prepend_output_with_input jobs get no token ids`);
  }
  return out;
}

async function loadTokenizer(dir: string): Promise<EngineTokenizer> {
  const tjs = await transformersFor("cpu");
  try {
    return (await tjs.AutoTokenizer.from_pretrained(dir, { local_files_only: true })) as unknown as EngineTokenizer;
  } catch (e) {
    throw new EngineError(`cannot load the tokenizer in ${dir}: ${oneLineError(e)}`);
  }
}

export async function createRemoteEngine(id: string, cfg: RemoteEngineConfig): Promise<RemoteTextEngine> {
  if (cfg.urls.length === 0) throw new EngineError(`model ${id}: a remote engine needs at least one URL`);
  const q = quirksOf(cfg.kind);
  const tokenizer = cfg.tokenizer ? await loadTokenizer(cfg.tokenizer) : undefined;
  const pool = new UpstreamPool(
    cfg.urls.map((base) => ({ base, display: displayUrl(base) })),
    cfg.maxConcurrent,
    { threshold: 3, openMs: 1000, maxOpenMs: 30_000 },
    (u, state, why) => {
      if (state === "out") log.warn(`model ${id}: upstream ${u.display} taken out: ${why}`);
      else log.info(`model ${id}: upstream ${u.display} is back (${why})`);
    },
  );
  for (const w of capabilityWarnings(id, cfg)) log.warn(w);

  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const round = async () => {
    await Promise.all(
      pool.upstreams.map(async (u) => pool.health(u, await checkHealth(u, q, cfg.apiKey, Math.min(cfg.timeoutMs, 5000)), cfg.healthIntervalMs)),
    );
  };
  const loop = () => {
    if (stopped) return;
    timer = setTimeout(() => void round().finally(loop), cfg.healthIntervalMs);
  };
  // The first round is awaited so start-up reports what is down; a down upstream never stops the node.
  await round();
  loop();

  const contextLength = cfg.contextLength ?? (await discoverContext(pool, cfg)) ?? tokenizerContext(cfg.tokenizer);
  if (contextLength === undefined) {
    log.warn(`model ${id} (${cfg.kind}): context length unknown (the upstream does not report it); assuming 2048, set context_length in its models entry`);
  }
  const info: ModelInfo = {
    id,
    dir: "",
    device: "remote",
    dtype: "f32",
    loadedDtype: "remote",
    modelType: `${cfg.kind}:${cfg.servedModel}`,
    contextLength: contextLength ?? 2048,
    vocabSize: 0,
    remote: { kind: cfg.kind, servedModel: cfg.servedModel, upstreams: pool.upstreams.map((u) => u.display) },
  };
  return new RemoteTextEngine({
    info,
    cfg,
    pool,
    tokenizer,
    stopHealth: () => {
      stopped = true;
      clearTimeout(timer);
    },
  });
}

/** The first answering upstream's report of the served model's context window. */
async function discoverContext(pool: UpstreamPool, cfg: RemoteEngineConfig): Promise<number | undefined> {
  for (const u of pool.upstreams) {
    if (!u.usable(performance.now())) continue;
    try {
      const n = (await listModels(u, cfg.servedModel, cfg.apiKey, Math.min(cfg.timeoutMs, 5000))).contextLength;
      if (n !== undefined) return n;
    } catch {
      /* try the next one */
    }
  }
  return undefined;
}

/** max_position_embeddings (or n_positions) from the tokenizer folder's config.json. */
function tokenizerContext(dir: string | undefined): number | undefined {
  const path = dir ? join(dir, "config.json") : undefined;
  if (!path || !existsSync(path)) return undefined;
  try {
    const c = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    const n = c.max_position_embeddings ?? c.n_positions;
    return Number.isSafeInteger(n) && (n as number) > 0 ? (n as number) : undefined;
  } catch {
    return undefined;
  }
}

/** `doctor`: every upstream of one remote model. */
export async function inspectRemote(cfg: RemoteEngineConfig, timeoutMs = 5000): Promise<UpstreamReport[]> {
  const q = quirksOf(cfg.kind);
  return Promise.all(cfg.urls.map((base) => inspectUpstream({ base, display: displayUrl(base) }, q, cfg.servedModel, cfg.apiKey, timeoutMs)));
}

/** doctor's checklist lines for a remote model: one per upstream, plus what the kind cannot honour. */
export async function remoteModelChecks(id: string, cfg: RemoteEngineConfig): Promise<{ name: string; ok: boolean; detail: string }[]> {
  const reports = await inspectRemote(cfg);
  const out = reports.map((r) => ({ name: `model ${id} upstream ${r.url}`, ok: r.ok, detail: `${cfg.kind}: ${r.detail}` }));
  const limits = capabilityWarnings(id, cfg).map((w) => w.replace(/^model \S+ \(\S+\): /, ""));
  if (limits.length > 0) out.push({ name: `model ${id} determinism`, ok: true, detail: limits.join("; ") });
  return out;
}
