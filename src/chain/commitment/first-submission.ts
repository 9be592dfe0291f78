/**
 * `FirstSubmissionEvent` detection in our own transaction's events (spec atoma-protocol.md §8.5):
 * full type match (the reference matched the bare struct name only) and the ticket id.
 */
import type { SuiClientTypes } from "@mysten/sui/client";
import { decodeChainEvent } from "../events/decode.ts";

/** Ticket ids for which the transaction emitted our package's FirstSubmissionEvent. */
export function firstSubmissionTickets(events: SuiClientTypes.Event[] | undefined, eventPackageId: string): Set<string> {
  const out = new Set<string>();
  for (const e of events ?? []) {
    const r = decodeChainEvent({ eventType: e.eventType, bcs: e.bcs, json: e.json }, eventPackageId);
    if (r.ok && r.event.kind === "FirstSubmissionEvent") out.add(r.event.ticketId);
  }
  return out;
}
