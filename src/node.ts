/**
 * The node (spec §9): Sui events → durable job store → per-model workers → commitment →
 * serial on-chain submission → output publication, plus the JSON-RPC/HTTP server.
 * Without `[event_subscriber]`/`[client]` it runs in local mode: the HTTP server and models only.
 */
import { join, resolve } from "node:path";
import { flushDownloads } from "./models/downloads.ts";
import { LogProgress } from "./models/progress.ts";
import { PullError } from "./models/pull-errors.ts";
import { ensureModelDir, ModelUnavailableError } from "./models/resolve.ts";
import { createApi, serveApi, type RunningServer } from "./api/server.ts";
import { NodeMetrics } from "./log/metrics.ts";
import { Admission } from "./api/openai/admission.ts";
import type { CommitmentSubmitter, EventSource } from "./chain/types.ts";
import type { NodeConfig } from "./config/types.ts";
import { loadTextEngine } from "./engine/engine.ts";
import { createRemoteEngine } from "./engine/remote/index.ts";
import { isEmbeddingModelDir, loadEmbeddingEngine } from "./engine/embedding.ts";
import { isDiffusersDir, loadImageEngine } from "./engine/image/engine.ts";
import type { EmbeddingSlot } from "./api/openai/embeddings.ts";
import { Committer } from "./jobs/committer.ts";
import { ingest, type IngestStats } from "./jobs/ingest.ts";
import { Resampler } from "./jobs/resampler.ts";
import { ImagePruner } from "./jobs/image-retention.ts";
import { Scheduler, type ImageSlot, type ModelSlot } from "./jobs/scheduler.ts";
import { Semaphore } from "./jobs/semaphore.ts";
import { OutputStreams } from "./jobs/output-streams.ts";
import { SqliteJobStore } from "./jobs/sqlite-store.ts";
import type { JobStore } from "./jobs/types.ts";
import { log } from "./log/logger.ts";
import type { CheckpointBatch } from "./protocol/types.ts";
import { Publisher } from "./publish/publisher.ts";
import { VERSION } from "./version.ts";
import { createSuiClient } from "./chain/client.ts";
import { SuiCommitmentSubmitter } from "./chain/commitment/submitter.ts";
import { KeyLoadError, loadSigner } from "./chain/keys.ts";
import { createEventFollower } from "./chain/follower.ts";
import { Backoff, sleep } from "./chain/backoff.ts";
import { findPromptEvent } from "./chain/prompt-lookup.ts";

export interface NodeHandle {
  stop(reason?: string): Promise<void>;
  /** Resolves once the node has fully stopped. */
  done: Promise<void>;
  /** Base URL of the HTTP server. */
  url: string;
  store: JobStore | undefined;
}

export interface StartOptions {
  signal?: AbortSignal;
  /** Replace the Sui-backed parts (benchmarks, alternative chains). Default: built from config. */
  eventSource?: EventSource;
  submitter?: CommitmentSubmitter;
}

/** Prompt index retention (spec §5.4: well above 3 × the 60 s settlement timeout). */
const PROMPT_TTL_MS = 6 * 3600_000;


/** The Sui-backed event source and commitment submitter from configuration. */
async function createChain(
  config: NodeConfig,
  given: { eventSource?: EventSource; submitter?: CommitmentSubmitter },
): Promise<{ source: EventSource; submitter: CommitmentSubmitter; tip?: () => Promise<bigint> }> {
  const es = config.eventSubscriber!;
  const cl = config.client!;
  let submitter = given.submitter;
  if (!submitter) {
    let signer;
    try {
      signer = loadSigner({ configPath: cl.configPath, address: cl.address });
    } catch (e) {
      throw e instanceof KeyLoadError ? new StartupInputError(e.message) : e;
    }
    log.info(`signing commitments as ${signer.address} (${signer.scheme}, key from ${signer.source})`);
    submitter = new SuiCommitmentSubmitter({
      client: createSuiClient({ network: es.network, httpUrl: es.httpUrl, requestTimeoutMs: cl.requestTimeoutMs }),
      keypair: signer.keypair,
      packageId: cl.packageId,
      eventPackageId: es.eventPackageId,
      atomaDbId: cl.atomaDbId,
      nodeBadgeId: cl.nodeBadgeId,
      gasBudget: cl.gasBudget,
      requestTimeoutMs: cl.requestTimeoutMs,
    });
  }
  const source = given.eventSource ?? createEventFollower(es);
  // Chain tip for the lag metric: one cheap unary call, made only when /metrics is scraped.
  const client = createSuiClient({ network: es.network, httpUrl: es.httpUrl, requestTimeoutMs: 5000 });
  // `abort`, not `timeout`: the SDK's timeout option only sends a grpc-timeout header and never
  // fires on the client, so a hung full node would hang /metrics.
  const tip = async () =>
    (await client.ledgerService.getServiceInfo({}, { abort: AbortSignal.timeout(2000) })).response.checkpointHeight ?? 0n;
  return { source, submitter, tip };
}

/** `flush_storage = true`: on a graceful stop, remove what this node downloaded into cache_dir
 * (recorded by src/models/downloads.ts) and nothing else: the hub cache may be shared with other
 * Hugging Face tools, and an operator's own folders there are not the node's to delete. */
async function flushStorage(dir: string): Promise<void> {
  try {
    const { removed } = await flushDownloads(dir);
    log.info(`flush_storage: removed ${removed} downloaded file(s) from ${resolve(dir)}`);
  } catch (e) {
    log.error(`flush_storage: could not clean ${resolve(dir)}: ${(e as Error).message}`);
  }
}

/** The node cannot start because of something the operator supplied (model files, key files):
 * the CLI prints its one-line message and exits 2, like a configuration error. */
export class StartupInputError extends Error {
  override name = "StartupInputError";
}

/** Text models (jobs, JSON-RPC, OpenAI chat/completions) are returned; embedding models (an
 * encoder config.json) go into `embedders`, served only by POST /v1/embeddings; diffusers folders
 * (Stable Diffusion) go into `images`, served for Text2ImagePromptEvent jobs. */
async function loadModels(
  config: NodeConfig,
  signal: AbortSignal | undefined,
  embedders: Map<string, EmbeddingSlot>,
  images: Map<string, ImageSlot>,
): Promise<Map<string, ModelSlot>> {
  const models = new Map<string, ModelSlot>();
  const inf = config.inference;
  const hub = { cacheDir: inf.cacheDir, autoPull: inf.autoPull, apiKey: inf.apiKey, progress: () => new LogProgress(), signal };
  for (const m of config.inference.models) {
    if (models.has(m.modelId) || embedders.has(m.modelId) || images.has(m.modelId)) throw new Error(`model ${m.modelId} is configured twice`);
    let dir = m.path;
    try {
      if (m.remote) {
        const engine = await createRemoteEngine(m.modelId, m.remote);
        // As many generations in flight as the upstreams accept together, each on its own worker.
        const slots = m.remote.urls.length * m.remote.maxConcurrent;
        models.set(m.modelId, { engine, lock: new Semaphore(slots), workers: slots });
        log.info(`model ${m.modelId} served by ${m.remote.kind} (${m.remote.servedModel}) at ${engine.info.remote!.upstreams.join(", ")}`);
        continue;
      }
      if (m.dtypeIgnored) log.warn(`model ${m.modelId}: ${m.dtypeIgnored}`);
      // A configured model missing from the cache is pulled here (progress in the log).
      dir = await ensureModelDir({ modelId: m.modelId, dir: m.local ? m.path : undefined, hub: m.hub, dtype: m.dtype }, hub);
      if (isDiffusersDir(dir)) {
        if (m.maxBatch !== undefined) log.warn(`model ${m.modelId}: max_batch does not apply to an image model (one image request at a time); ignored`);
        const engine = await loadImageEngine({ id: m.modelId, dir, device: m.device, ...m.image });
        // One image at a time per model: an ONNX UNet session is single-stream and fills the device.
        images.set(m.modelId, { engine, lock: new Semaphore(1) });
        const i = engine.info;
        log.info(`image model ${m.modelId} loaded (${i.modelType}, ${i.scheduler}, default ${i.defaultSize}px, limits ${i.maxSize}px / ${i.maxSteps} steps / ${i.maxSamples} samples, ${i.device}${i.turbo ? `, few-step by ${i.turboFrom}` : ""})`);
        continue;
      }
      if (m.image) throw new Error("max_image_size, max_steps and max_samples apply to image models (diffusers folders) only");
      if (isEmbeddingModelDir(dir)) {
        const engine = await loadEmbeddingEngine({ id: m.modelId, dir, device: m.device, dtype: m.dtype });
        embedders.set(m.modelId, { engine, lock: new Semaphore(1) });
        log.info(`embedding model ${m.modelId} loaded (${engine.info.modelType}, ${engine.info.dimensions} dimensions)`);
        continue;
      }
      const engine = await loadTextEngine({ id: m.modelId, dir, device: m.device, dtype: m.dtype, maxBatch: m.maxBatch });
      // The engine decodes up to maxBatch generations together (batch-invariant, src/engine/batching.ts):
      // that many workers, and the same lock for API requests, so chain jobs and API traffic share a batch.
      const batch = engine.info.maxBatch ?? 1;
      models.set(m.modelId, { engine, lock: new Semaphore(batch), workers: batch });
      log.info(`model ${m.modelId} loaded (${engine.info.modelType}, ${engine.info.loadedDtype}, ${engine.info.device})`);
    } catch (e) {
      for (const s of [...models.values(), ...embedders.values(), ...images.values()]) await s.engine.dispose().catch(() => {});
      if (e instanceof ModelUnavailableError || (e instanceof PullError && e.isInputError)) throw new StartupInputError(e.message);
      if (e instanceof PullError) throw new Error(e.message); // network, disk: a runtime failure (exit 1)
      throw new StartupInputError(`model ${m.modelId} (${m.remote ? m.remote.kind : dir}): ${(e as Error).message}`);
    }
  }
  return models;
}

export async function startNode(config: NodeConfig, opts: StartOptions = {}): Promise<NodeHandle> {
  const started = Date.now();
  const metrics = new NodeMetrics();
  const chainMode = config.eventSubscriber !== undefined && config.client !== undefined;
  if ((config.eventSubscriber === undefined) !== (config.client === undefined)) {
    log.warn("only one of [event_subscriber] and [client] is configured: running in local mode (both are needed on chain)");
  }
  const embedders = new Map<string, EmbeddingSlot>();
  const images = new Map<string, ImageSlot>();
  const models = await loadModels(config, opts.signal, embedders, images);
  const timeoutMs = config.client?.requestTimeoutMs ?? config.eventSubscriber?.requestTimeoutMs ?? 300_000;

  let store: SqliteJobStore | undefined;
  let chain: { source: EventSource; submitter: CommitmentSubmitter; tip?: () => Promise<bigint> } | undefined;
  try {
    if (chainMode) {
      store = new SqliteJobStore(join(config.node.dataDir, "jobs.sqlite"));
      const recovered = store.recover();
      if (recovered) log.info(`recovered ${recovered} interrupted job(s): they will be generated again`);
      chain =
        opts.eventSource && opts.submitter
          ? { source: opts.eventSource, submitter: opts.submitter }
          : await createChain(config, opts);
    }
  } catch (e) {
    store?.close();
    for (const s of [...models.values(), ...embedders.values(), ...images.values()]) await s.engine.dispose().catch(() => {});
    throw e;
  }

  const follow = new AbortController();
  const loops = new AbortController();
  const followTasks: Promise<void>[] = [];
  const tasks: Promise<void>[] = [];
  let committer: Committer | undefined;
  let publisher: Publisher | undefined;
  let scheduler: Scheduler | undefined;
  const streams = new OutputStreams();

  if (store && chain && config.client && config.eventSubscriber) {
    const s = store;
    const { source, submitter } = chain;
    publisher = new Publisher(s, { webhookUrl: config.node.webhookUrl, nodeAddress: submitter.address, metrics });
    committer = new Committer(s, submitter, {
      maxBatchSize: config.client.maxBatchSize,
      maxTxAttempts: 20,
      metrics,
      onFirstSubmission: () => publisher!.wake(),
    });
    scheduler = new Scheduler(s, models, {
      maxConcurrent: config.client.maxConcurrentRequests,
      timeoutMs,
      metrics,
      onGenerated: () => committer!.wake(),
      streams,
      images,
    });
    const stats: IngestStats = { notServable: 0, disputes: 0 };
    const ctx = {
      smallId: config.eventSubscriber.smallId,
      policy: config.eventSubscriber.leafCountPolicy,
      hostedModels: new Set(models.keys()),
      imageModels: new Set(images.keys()),
      store: s,
    };
    // Resampled leaves whose prompt was never indexed here: looked up on chain off the follower's path.
    const es = config.eventSubscriber;
    const lookupClient = createSuiClient({ network: es.network, httpUrl: es.httpUrl });
    const resampler = new Resampler(s, {
      ctx,
      lookup: (ticketId, o) => findPromptEvent(lookupClient, es.eventPackageId, ticketId, o),
      requestTimeoutMs: es.requestTimeoutMs,
      onJobs: () => scheduler!.wake(),
    });
    const handle = async (batch: CheckpointBatch) => {
      const before = { ...stats };
      const fx = ingest(batch, ctx, stats);
      const created = s.applyBatch(fx);
      if (fx.events.some((e) => e.unresolved?.length)) resampler.wake();
      metrics.notServable.inc({}, stats.notServable - before.notServable);
      metrics.disputes.inc({}, stats.disputes - before.disputes);
      metrics.cursor.set({}, Number(batch.checkpoint));
      if (created > 0) {
        log.debug(`checkpoint ${batch.checkpoint}: ${created} new job(s)`);
        scheduler!.wake();
      }
    };
    // Supervised: a follower that throws (store error, bug) is restarted with backoff, never fatal.
    followTasks.push(
      (async () => {
        const backoff = new Backoff({ initialMs: 500 });
        while (!follow.signal.aborted) {
          const runStarted = Date.now();
          let why: string;
          try {
            await source.run(s.cursor(), handle, follow.signal);
            why = "event follower returned";
          } catch (e) {
            why = `event follower stopped: ${(e as Error).message}`;
          }
          if (follow.signal.aborted) break;
          // A follower that ran for a while was healthy: start the next backoff from the bottom.
          if (Date.now() - runStarted > 60_000) backoff.reset();
          const delay = backoff.next();
          log.error(`${why}; restarting in ${Math.round(delay)} ms`);
          await sleep(delay, follow.signal);
        }
      })(),
    );
    // PNGs of image jobs the node is done with go after [node] image_retention_hours (0 = never).
    const pruner = new ImagePruner(s, { retentionMs: config.node.imageRetentionHours * 3_600_000 });
    tasks.push(committer.run(loops.signal), publisher.run(loops.signal), resampler.run(loops.signal), pruner.run(loops.signal));
    followTasks.push(
      (async () => {
        while (!follow.signal.aborted) {
          try {
            s.prunePrompts(Date.now() - PROMPT_TTL_MS);
          } catch (e) {
            // A busy or full disk must not end the process (an un-awaited rejection would).
            log.error(`pruning the prompt index failed: ${(e as Error).message}`);
          }
          await sleep(60_000, follow.signal);
        }
      })(),
    );
    scheduler.start();
  }

  const api = createApi({
    models,
    store,
    metrics,
    timeoutMs,
    token: config.inference.jrpcToken,
    streams,
    bodyTimeoutMs: config.node.httpTimeoutMs,
    embedders,
    images,
    admission: new Admission({ queueSize: config.inference.apiQueueSize, ratePerMinute: config.inference.apiRateLimit }),
    beforeScrape: async () => {
      const cursor = store?.cursor();
      if (!chain?.tip || cursor === null || cursor === undefined) return;
      const tip = await chain.tip();
      metrics.chainLag.set({}, Math.max(0, Number(tip - cursor)));
      metrics.cursor.set({}, Number(cursor));
    },
    nodeInfo: () => ({
      version: VERSION,
      mode: chainMode ? "chain" : "local",
      small_id: config.eventSubscriber?.smallId.toString() ?? null,
      address: chain?.submitter.address ?? null,
      package_id: config.eventSubscriber?.packageId ?? null,
      node_badge_id: config.client?.nodeBadgeId ?? null,
      models: [...models.keys()],
      image_models: [...images.keys()],
      cursor: store?.cursor()?.toString() ?? null,
      jobs: store?.countByState() ?? null,
      running: scheduler?.running ?? 0,
      uptime_s: Math.round((Date.now() - started) / 1000),
    }),
  });
  let server: RunningServer;
  try {
    server = serveApi(api, config.inference.jrpcHost, config.inference.jrpcPort, { timeoutMs: config.node.httpTimeoutMs, maxConnections: config.node.httpMaxConnections });
  } catch (e) {
    follow.abort();
    loops.abort();
    await scheduler?.stop(0);
    await Promise.allSettled([...followTasks, ...tasks]);
    store?.close();
    for (const s of [...models.values(), ...embedders.values(), ...images.values()]) await s.engine.dispose().catch(() => {});
    throw new Error(`cannot listen on ${config.inference.jrpcHost}:${config.inference.jrpcPort}: ${(e as Error).message}`);
  }
  log.info(`${chainMode ? "chain" : "local"} mode: JSON-RPC/HTTP on ${server.url} serving ${[...models.keys(), ...images.keys()].join(", ") || "no models"}`);

  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  let stopping: Promise<void> | undefined;
  const stop = (reason = "stop requested"): Promise<void> => {
    stopping ??= (async () => {
      log.info(`stopping node: ${reason}`);
      const grace = config.node.shutdownTimeoutMs;
      // Order: no new events, no new claims (in-flight finish within the grace), then the
      // transaction loop finishes its current round; unfinished work resumes on restart.
      follow.abort();
      await Promise.allSettled(followTasks);
      await scheduler?.stop(grace);
      loops.abort();
      await Promise.allSettled(tasks);
      await server.stop().catch(() => {});
      for (const s of [...models.values(), ...embedders.values(), ...images.values()]) await s.engine.dispose().catch(() => {});
      store?.close();
      if (config.inference.flushStorage) await flushStorage(config.inference.cacheDir);
      finish();
    })();
    return stopping;
  };
  const stopOnSignal = (reason: string) => stop(reason).catch((e) => log.error(`stopping failed: ${(e as Error).message}`));
  opts.signal?.addEventListener("abort", () => void stopOnSignal(String(opts.signal?.reason ?? "signal")), { once: true });
  if (opts.signal?.aborted) void stopOnSignal("signal");
  return { stop, done, url: server.url, store };
}
