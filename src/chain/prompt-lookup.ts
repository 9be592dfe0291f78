/**
 * Finds the original prompt event of a ticket on chain (spec atoma-protocol.md §5.4 fallback): the
 * gRPC API has no filter on an event field, so `gate::*PromptEvent` history is scanned backwards,
 * newest first — a resampled ticket is recent (settlement times out in minutes), so the scan is
 * bounded by a page budget rather than reading the whole history. Used off the follower's path
 * (spec §13 #18): the resampler loop calls it, never the ingest transaction.
 */
import type { SuiGrpcClient } from "@mysten/sui/grpc";
import { normalizeSuiAddress } from "@mysten/sui/utils";
import type { PromptEventRecord } from "../protocol/types.ts";
import { decodeChainEvent, eventTypeOf } from "./events/decode.ts";

/** Page budget per prompt event type (50 events a page). */
export const PROMPT_LOOKUP_MAX_PAGES = 20;
/** The gRPC service caps pages at 50 (sui-integration.md §3.4). */
const PAGE = 50;
const PROMPT_EVENTS = ["Text2TextPromptEvent", "Text2ImagePromptEvent"] as const;

export interface PromptLookupOptions {
  /** Pages read per event type before giving up (default PROMPT_LOOKUP_MAX_PAGES). */
  maxPages?: number;
  /** Client-side bound on each page request: the SDK's `timeout` is only a deadline header. */
  requestTimeoutMs?: number;
  signal?: AbortSignal;
}

export type PromptLookupResult =
  | { found: true; prompt: PromptEventRecord; checkpoint: string | null }
  | { found: false; pages: number; /** true when the whole retained history was read */ exhausted: boolean };

/** Scans both prompt event types newest first for `ticketId`. Throws on RPC errors (the caller retries). */
export async function findPromptEvent(
  client: Pick<SuiGrpcClient, "listEvents">,
  eventPackageId: string,
  ticketId: string,
  opts: PromptLookupOptions = {},
): Promise<PromptLookupResult> {
  const pkg = normalizeSuiAddress(eventPackageId);
  const want = normalizeSuiAddress(ticketId);
  const maxPages = opts.maxPages ?? PROMPT_LOOKUP_MAX_PAGES;
  const timeoutMs = opts.requestTimeoutMs ?? 30_000;
  let pages = 0;
  let exhausted = true;
  for (const name of PROMPT_EVENTS) {
    const eventType = eventTypeOf(pkg, name);
    let before: string | null = null;
    for (let page = 0; ; page++) {
      if (page >= maxPages) {
        exhausted = false;
        break;
      }
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : [])]);
      const res = await client.listEvents({ filter: { eventType }, order: "descending", ...(before ? { before } : {}), limit: PAGE, signal });
      pages += 1;
      for (const e of res.events) {
        const d = decodeChainEvent({ eventType: e.eventType, bcs: e.bcs, id: `${e.transactionDigest}:${e.eventIndex}` }, pkg);
        if (!d.ok || (d.event.kind !== "Text2TextPromptEvent" && d.event.kind !== "Text2ImagePromptEvent")) continue;
        if (normalizeSuiAddress(d.event.ticketId) === want) return { found: true, prompt: d.event, checkpoint: e.checkpoint };
      }
      // Pages may be short or empty with more to come: only hasNextPage ends the scan (§3.4).
      if (!res.hasNextPage || !res.endCursor) break;
      if (res.endCursor === before) throw new Error(`ListEvents (${name}, descending) returned a page without advancing its cursor`);
      before = res.endCursor;
    }
  }
  return { found: false, pages, exhausted };
}
