/**
 * Turns one checkpoint's decoded chain events into store effects (spec §5): which prompts are for
 * this node, at which leaf index over how many leaves; a model this node does not host is recorded
 * as not servable (never a crash, spec §13 #7). Pure apart from prompt-index reads.
 */
import type { LeafCountPolicy } from "../config/types.ts";
import { leafCount, resampledOrders, selectPrompt } from "../chain/events/selection.ts";
import { MAX_LEAVES } from "../commitment/merkle.ts";
import { log } from "../log/logger.ts";
import type { CheckpointBatch, EventOrigin, PromptEventRecord } from "../protocol/types.ts";
import type { EventEffects, JobStore, NewJob, StoreBatch } from "./types.ts";

export interface IngestContext {
  smallId: bigint;
  policy: LeafCountPolicy;
  /** Model ids (`params.model`) this node hosts for text prompts. */
  hostedModels: ReadonlySet<string>;
  /** Model ids this node hosts for image prompts (Stable Diffusion). */
  imageModels?: ReadonlySet<string>;
  store: JobStore;
}

export interface IngestStats {
  notServable: number;
  disputes: number;
  /** Resampled leaves whose prompt must be looked up on chain. */
  unresolved?: number;
}

/** The job serving leaf `index` of `n` for `prompt`, or a failed / not-servable record with its reason. */
export function jobFor(prompt: PromptEventRecord, origin: EventOrigin, index: bigint, n: bigint, ctx: Pick<IngestContext, "policy" | "hostedModels" | "imageModels">): NewJob {
  const base = {
    ticketId: prompt.ticketId,
    leafIndex: Number(index),
    numLeaves: Number(n),
    model: prompt.params.model,
    outputDestination: prompt.outputDestination,
    origin,
  };
  const job: NewJob =
    prompt.kind === "Text2TextPromptEvent"
      ? { ...base, job: { kind: "text", params: prompt.params } }
      : { ...base, job: { kind: "image", params: prompt.params } };
  if (n < 1n || n > BigInt(MAX_LEAVES)) {
    return { ...job, numLeaves: Math.min(Number(n), MAX_LEAVES), state: "failed", error: `leaf count ${n} outside 1..${MAX_LEAVES}` };
  }
  if (index >= n) {
    const why =
      ctx.policy === "nodes"
        ? "; a cross-validation extra node: the deployed contract never adds it to ticket.all, so its commitment would abort with 312012200 (docs/chain.md, leaf count policy)"
        : "";
    return { ...job, leafIndex: Number(index), state: "failed", error: `leaf index ${index} is not below leaf count ${n} (leaf count policy ${ctx.policy})${why}` };
  }
  const model = JSON.stringify(prompt.params.model);
  const images = ctx.imageModels ?? new Set<string>();
  if (prompt.kind === "Text2ImagePromptEvent") {
    if (images.has(prompt.params.model)) return job;
    if (ctx.hostedModels.has(prompt.params.model)) return { ...job, state: "not_servable", error: `model ${model} is a text model here; an image prompt cannot run on it` };
    return { ...job, state: "not_servable", error: `image model ${model} is not hosted by this node (image models hosted: ${[...images].join(", ") || "none"})` };
  }
  if (!ctx.hostedModels.has(prompt.params.model)) {
    if (images.has(prompt.params.model)) return { ...job, state: "not_servable", error: `model ${model} is an image model here; a text prompt cannot run on it` };
    const hosted = [...ctx.hostedModels].join(", ") || "none";
    return { ...job, state: "not_servable", error: `model ${model} is not hosted by this node (hosted: ${hosted})` };
  }
  return job;
}

/** A `NewlySampledNodesEvent` leaf (`order`, spec §5.4) of a known prompt; the leaf count is the
 * original prompt's (§5.3), whether the prompt came from this batch, the index or the chain. */
export function resampledJob(prompt: PromptEventRecord, origin: EventOrigin, order: bigint, ctx: Pick<IngestContext, "policy" | "hostedModels" | "imageModels">): NewJob {
  return jobFor(prompt, origin, order, leafCount(prompt.chunksCount, prompt.nodes.length, ctx.policy), ctx);
}

export function ingest(batch: CheckpointBatch, ctx: IngestContext, stats?: IngestStats): StoreBatch {
  // Prompts earlier in the same batch are not in the store yet but may be re-sampled right away.
  const inBatch = new Map<string, PromptEventRecord>();
  const events: EventEffects[] = [];
  for (const ev of batch.events) {
    const fx: EventEffects = { origin: ev.origin, jobs: [], prompts: [], settled: [] };
    const e = ev.event;
    switch (e.kind) {
      case "Text2TextPromptEvent":
      case "Text2ImagePromptEvent": {
        // Index every prompt, not only ours: a later NewlySampledNodesEvent may pick this node.
        fx.prompts.push(e);
        inBatch.set(e.ticketId, e);
        const sel = selectPrompt(e, ctx.smallId, ctx.policy);
        if (sel.selected) fx.jobs.push(jobFor(e, ev.origin, BigInt(sel.index), sel.leaves, ctx));
        break;
      }
      case "NewlySampledNodesEvent": {
        const orders = resampledOrders(e, ctx.smallId);
        if (orders.length === 0) break;
        const prompt = inBatch.get(e.ticketId) ?? ctx.store.findPrompt(e.ticketId);
        if (!prompt) {
          // Looked up on chain by the resampler, never here: ingest runs inside the follower (§13 #18).
          if (stats) stats.unresolved = (stats.unresolved ?? 0) + orders.length;
          log.info(`NewlySampledNodesEvent for ticket ${e.ticketId}: original prompt not indexed here; it will be looked up on chain`);
          fx.unresolved = orders.map((order) => ({ ticketId: e.ticketId, leafIndex: Number(order) }));
          break;
        }
        for (const order of orders) fx.jobs.push(resampledJob(prompt, ev.origin, order, ctx));
        break;
      }
      case "SettledEvent":
        fx.settled.push(e.ticketId);
        break;
      case "DisputeEvent":
        if (stats) stats.disputes++;
        fx.disputed = [e.ticketId];
        log.warn(`DisputeEvent for ticket ${e.ticketId}`);
        break;
      default:
        log.debug(`${e.kind} needs no action from this node`);
    }
    for (const j of fx.jobs) {
      if (j.state === "not_servable") {
        if (stats) stats.notServable++;
        log.error(`ticket ${j.ticketId}: ${j.error}`);
      } else if (j.state === "failed") {
        // Being sampled as a cross-validation extra is the contract's doing, not a fault here.
        if (ctx.policy === "nodes" && j.leafIndex >= j.numLeaves) log.info(`ticket ${j.ticketId}: not run: ${j.error}`);
        else log.error(`ticket ${j.ticketId}: ${j.error}`);
      }
    }
    events.push(fx);
  }
  return { checkpoint: batch.checkpoint, events };
}
