/**
 * Test/operator control of the fake full node: inject Atoma events (each call seals one checkpoint
 * holding one transaction), read back the commitments received, the calls log and the objects,
 * and script faults. The same operations are served as JSON over HTTP under `/admin/`.
 */
import { normalizeStructTag, normalizeSuiAddress, toHex } from "@mysten/sui/utils";
import { bytesArg, encodeImagePrompt, encodeNewlySampled, encodeTextPrompt, type EncodedPrompt, type ImagePromptInput, type PromptInput } from "./events.ts";
import type { FaultSpec, Faults } from "./faults.ts";
import { type CallRec, type CommitmentRec, type EventRec, GAS_COIN_TYPE, type Ledger, type NodeSpec } from "./ledger.ts";

/** Sender of injected prompt transactions (a user wallet, not a node). */
export const USER_ADDRESS = normalizeSuiAddress("0xa11ce");

export interface Injected {
  txDigest: string;
  checkpoint: bigint;
}

export interface InjectedPrompt extends Injected {
  ticketId: string;
  eventIndex: number;
}

export interface RawEvent {
  /** Full type `0x…::module::Name`, or `module::Name` inside the Atoma package. */
  type: string;
  /** BCS bytes, or base64 / 0x-hex. */
  bcs: Uint8Array | string;
}

export class AdminApi {
  constructor(
    readonly ledger: Ledger,
    readonly faults: Faults,
  ) {}

  info() {
    const l = this.ledger;
    const nodes = [...l.badges].map(([smallId, badgeId]) => {
      const badge = l.get(badgeId)!;
      const address = badge.owner.address!;
      return { smallId, badgeId, address, gasCoins: l.ownedBy(address, GAS_COIN_TYPE).map((c) => c.objectId) };
    });
    const db = l.get(l.atomaDbId)!;
    return {
      chainId: l.chainId,
      packageId: l.packageId,
      atomaDbId: l.atomaDbId,
      atomaDbInitialSharedVersion: db.owner.initialSharedVersion!,
      randomId: l.randomId,
      randomInitialSharedVersion: l.get(l.randomId)!.owner.initialSharedVersion!,
      referenceGasPrice: l.referenceGasPrice,
      tip: l.tip.seq,
      nodes,
    };
  }

  addNode(node: NodeSpec) {
    return this.ledger.addNode(node);
  }

  /** Seals one transaction carrying `events` into a new checkpoint. */
  injectEvents(events: RawEvent[], sender = USER_ADDRESS): Injected {
    const recs: EventRec[] = events.map((e, i) => {
      const full = e.type.split("::").length === 2 ? `${this.ledger.packageId}::${e.type}` : e.type;
      let type: string;
      try {
        type = normalizeStructTag(full);
      } catch {
        throw new Error(`events[${i}].type: expected 0x…::module::Name or module::Name, got ${JSON.stringify(e.type)}`);
      }
      const [pkg, module] = type.split("::");
      const bcs = typeof e.bcs === "string" ? bytesArg(e.bcs, `events[${i}].bcs`) : e.bcs;
      return { packageId: normalizeSuiAddress(pkg!), module: module!, sender: normalizeSuiAddress(sender), eventType: type, bcs };
    });
    const tx = this.ledger.syntheticTx(sender, recs);
    const cp = this.ledger.appendCheckpoint([tx]);
    return { txDigest: tx.digest, checkpoint: cp.seq };
  }

  /** Emits `gate::Text2TextPromptEvent`s in one transaction and opens their tickets. */
  injectPrompts(prompts: PromptInput[]): InjectedPrompt[] {
    return this.openTickets("gate::Text2TextPromptEvent", prompts.map((p) => encodeTextPrompt(p, this.ledger.seed)));
  }

  /** Emits `gate::Text2ImagePromptEvent`s in one transaction and opens their tickets. */
  injectImagePrompts(prompts: ImagePromptInput[]): InjectedPrompt[] {
    return this.openTickets("gate::Text2ImagePromptEvent", prompts.map((p) => encodeImagePrompt(p, this.ledger.seed)));
  }

  private openTickets(type: string, encoded: EncodedPrompt[]): InjectedPrompt[] {
    for (const e of encoded) {
      if (this.ledger.tickets.has(e.ticketId)) throw new Error(`ticket ${e.ticketId} already exists`);
    }
    const at = this.injectEvents(encoded.map((e) => ({ type, bcs: e.bcs })));
    for (const e of encoded) {
      // gate::submit_*_prompt with nodes_to_sample = None: one node, chunks_count = 1 + extra.
      const crossValidation = e.nodes.length === 1 && e.chunksCount > 1n ? { probabilityPermille: this.ledger.crossValidationPermille, extraNodes: e.chunksCount - 1n } : undefined;
      this.ledger.tickets.set(e.ticketId, { ticketId: e.ticketId, nodes: e.nodes, chunksCount: e.chunksCount, committed: new Map(), disputed: false, settled: false, crossValidation });
    }
    return encoded.map((e, i) => ({ ...at, ticketId: e.ticketId, eventIndex: i }));
  }

  injectPrompt(prompt: PromptInput): InjectedPrompt {
    return this.injectPrompts([prompt])[0]!;
  }

  /** `settlement::NewlySampledNodesEvent` as a timeout replacement: a node at an `order` inside
   * `ticket.all` replaces the node there and may commit. Orders beyond it are announced only, as
   * the deployed contract does for cross-validation extras (their commits abort with 312012200). */
  injectNewlySampled(ticketId: string, newNodes: { nodeId: number | string; order: number | string }[]): Injected {
    const id = normalizeSuiAddress(ticketId);
    const bcs = encodeNewlySampled(id, newNodes);
    const ticket = this.ledger.tickets.get(id);
    if (ticket) for (const n of newNodes) if (Number(n.order) < ticket.nodes.length) ticket.nodes[Number(n.order)] = BigInt(n.nodeId);
    return this.injectEvents([{ type: "settlement::NewlySampledNodesEvent", bcs }]);
  }

  /** Seals `count` empty checkpoints (the chain moving on without Atoma activity). */
  advance(count = 1): bigint {
    for (let i = 0; i < count; i++) this.ledger.appendCheckpoint([]);
    return this.ledger.tip.seq;
  }

  /** Ends the epoch: equivocation locks are released (spec sui-integration.md §6.2). */
  endEpoch(): bigint {
    this.ledger.epoch += 1n;
    this.ledger.locks.clear();
    return this.ledger.epoch;
  }

  /** Forgets checkpoints below `lowest`, like a pruning full node. */
  prune(lowest: bigint): void {
    const cps = this.ledger.checkpoints;
    while (cps.length > 1 && cps[0]!.seq < lowest) cps.shift();
  }

  commitments(ticketId?: string): CommitmentRec[] {
    const id = ticketId ? normalizeSuiAddress(ticketId) : undefined;
    return this.ledger.commitments.filter((c) => !id || c.ticketId === id);
  }

  calls(method?: string): CallRec[] {
    return this.ledger.calls.filter((c) => !method || c.method === method);
  }

  clearCalls(): void {
    this.ledger.calls.length = 0;
  }

  setFaults(spec: FaultSpec): void {
    this.faults.apply(spec);
  }
}

/** JSON with bigint → decimal string and bytes → 0x-hex. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? `0x${toHex(v)}` : v instanceof Map ? Object.fromEntries(v) : v));
}

/** `max_tokens` → `maxTokens`: the admin API accepts the Move field names too. */
function camelKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), v]));
}

const json = (status: number, body: unknown) => new Response(toJson(body), { status, headers: { "content-type": "application/json" } });

export async function handleAdminHttp(admin: AdminApi, req: Request, path: string): Promise<Response> {
  const q = new URL(req.url).searchParams;
  try {
    const body = req.method === "POST" ? ((await req.json().catch(() => {
      throw new Error("request body: expected JSON");
    })) as Record<string, unknown>) : {};
    switch (`${req.method} ${path}`) {
      case "GET /admin/info":
        return json(200, admin.info());
      case "POST /admin/prompt": {
        const list = (Array.isArray(body.prompts) ? body.prompts : [body]) as Record<string, unknown>[];
        return json(200, admin.injectPrompts(list.map(camelKeys) as unknown as PromptInput[]));
      }
      case "POST /admin/image-prompt": {
        const list = (Array.isArray(body.prompts) ? body.prompts : [body]) as Record<string, unknown>[];
        return json(200, admin.injectImagePrompts(list.map(camelKeys) as unknown as ImagePromptInput[]));
      }
      case "POST /admin/events":
        if (!Array.isArray(body.events)) throw new Error("events: expected an array of {type, bcs}");
        return json(200, admin.injectEvents(body.events as RawEvent[], typeof body.sender === "string" ? body.sender : undefined));
      case "POST /admin/newly-sampled":
        if (typeof body.ticketId !== "string" || !Array.isArray(body.newNodes)) throw new Error("expected {ticketId, newNodes: [{nodeId, order}]}");
        return json(200, admin.injectNewlySampled(body.ticketId, body.newNodes as { nodeId: number; order: number }[]));
      case "POST /admin/advance":
        return json(200, { tip: admin.advance(Number(body.count ?? 1)) });
      case "POST /admin/end-epoch":
        return json(200, { epoch: admin.endEpoch() });
      case "POST /admin/nodes":
        return json(200, admin.addNode(body as unknown as NodeSpec));
      case "GET /admin/commitments":
        return json(200, admin.commitments(q.get("ticket") ?? undefined));
      case "GET /admin/tickets":
        return json(200, [...admin.ledger.tickets.values()].map((t) => ({ ...t, committed: [...t.committed.keys()] })));
      case "GET /admin/calls":
        return json(200, admin.calls(q.get("method") ?? undefined));
      case "POST /admin/calls/clear":
        admin.clearCalls();
        return json(200, { ok: true });
      case "POST /admin/faults":
        admin.setFaults(body as FaultSpec);
        return json(200, { ok: true });
      default:
        return json(404, { error: `unknown admin endpoint ${req.method} ${path}` });
    }
  } catch (e) {
    return json(400, { error: (e as Error).message });
  }
}
