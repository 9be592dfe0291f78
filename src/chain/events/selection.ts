/**
 * Is a job for this node, at which leaf index, over how many leaves (spec atoma-protocol.md §5).
 */
import type { LeafCountPolicy } from "../../config/types.ts";
import type { AtomaEvent } from "../../protocol/types.ts";

type PromptEvent = Extract<AtomaEvent, { kind: "Text2TextPromptEvent" | "Text2ImagePromptEvent" }>;
type ResampleEvent = Extract<AtomaEvent, { kind: "NewlySampledNodesEvent" }>;

export type PromptSelection =
  | { selected: false }
  | { selected: true; index: number; leaves: bigint };

/** Leaf count n (spec §5.3): `chunks_count` policy uses max(chunks_count, nodes.length) so
 * cross-validation extra nodes (order 1..extra) have leaf slots; `nodes` is strict reference parity. */
export function leafCount(chunksCount: bigint, nodesLength: number, policy: LeafCountPolicy): bigint {
  const n = BigInt(nodesLength);
  if (policy === "nodes") return n;
  return chunksCount > n ? chunksCount : n;
}

/** §5.1: the first position of our small id in `nodes`. */
export function selectPrompt(event: PromptEvent, smallId: bigint, policy: LeafCountPolicy): PromptSelection {
  const index = event.nodes.indexOf(smallId);
  if (index < 0) return { selected: false };
  return { selected: true, index, leaves: leafCount(event.chunksCount, event.nodes.length, policy) };
}

/** §5.4: every `order` at which our small id was (re)sampled; the leaf index is `order`, not the
 * entry's position. The leaf count comes from the original prompt event (not in this event). */
export function resampledOrders(event: ResampleEvent, smallId: bigint): bigint[] {
  return event.newNodes.filter((n) => n.nodeId === smallId).map((n) => n.order);
}

/** Operator-facing summary for any event (`atoma-node events decode --small-id`). */
export function describeSelection(event: AtomaEvent, smallId: bigint, policy: LeafCountPolicy): Record<string, unknown> {
  switch (event.kind) {
    case "Text2TextPromptEvent":
    case "Text2ImagePromptEvent": {
      const s = selectPrompt(event, smallId, policy);
      return s.selected
        ? { selected: true, index: s.index, leaves: s.leaves, policy }
        : { selected: false, index: null, leaves: null, policy };
    }
    case "NewlySampledNodesEvent": {
      const orders = resampledOrders(event, smallId);
      // Leaves depend on the original prompt event's chunks_count, which this event does not carry.
      return { selected: orders.length > 0, orders, index: orders[0] ?? null, leaves: null };
    }
    default:
      return { selected: false, index: null, leaves: null, note: `${event.kind} assigns no work` };
  }
}
