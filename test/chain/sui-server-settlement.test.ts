/**
 * The local Sui test server's `try_to_settle` as the deployed contract runs it (issue 8, item 7;
 * spec §5.2–5.3), driven by the node's real commitment submitter: cross-validation tickets (one
 * sampled node, chunks_count = 1 + extra) roll against the probability; when extra nodes are
 * sampled they are announced but not added to ticket.all, and the root must equal blake2b256 of
 * the ONE stored leaf — a root over `nodes.length` leaves settles, a `chunks_count` root ends in
 * DisputeEvent, and the extras' commits abort with 312012200 (or hit a removed ticket).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { createSuiClient } from "../../src/chain/client.ts";
import { SuiCommitmentSubmitter } from "../../src/chain/commitment/submitter.ts";
import type { SignedTx } from "../../src/chain/types.ts";
import { commit } from "../../src/commitment/merkle.ts";
import * as S from "../../src/chain/events/schemas.ts";
import { startSuiServer, type SuiServer } from "../support/sui-server/index.ts";

const keys = new Map([7, 5, 6, 8].map((id) => [id, Ed25519Keypair.generate()]));
const servers: SuiServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

async function chain(crossValidationPermille?: number) {
  const server = await startSuiServer({ crossValidationPermille, nodes: [...keys].map(([smallId, k]) => ({ address: k.toSuiAddress(), smallId })) });
  servers.push(server);
  const info = server.admin.info();
  const submitter = (id: number) =>
    new SuiCommitmentSubmitter({
      client: createSuiClient({ network: "localnet", httpUrl: server.url }),
      packageId: info.packageId,
      atomaDbId: info.atomaDbId,
      gasBudget: 5_000_000n,
      requestTimeoutMs: 2000,
      backoffMs: 10,
      keypair: keys.get(id)!,
      nodeBadgeId: info.nodes.find((n) => Number(n.smallId) === id)!.badgeId,
    });
  /** Commits `output` as node `id` at `index` of `n` leaves; the outcome and the events of its transaction. */
  const commitAs = async (id: number, ticketId: string, output: string, n: number, index: number) => {
    const c = commit(new TextEncoder().encode(output), n, index);
    const txs: SignedTx[] = [];
    const [o] = await submitter(id).submit([{ ticketId, inputTokens: 3n, outputTokens: 4n, merkleRoot: c.root, leaf: c.leaf }], { record: (tx: SignedTx) => void txs.push(tx) });
    const events = (server.ledger.txs.get(txs[0]!.digest)?.events ?? []).map((e) => e.eventType.split("::").pop()!);
    return { outcome: o!, events, tx: server.ledger.txs.get(txs[0]!.digest) };
  };
  return { server, commitAs };
}

const newlySampled = (server: SuiServer) => [...server.ledger.txs.values()].flatMap((t) => t.events).filter((e) => e.eventType.endsWith("::NewlySampledNodesEvent"));

describe("try_to_settle on cross-validation tickets", () => {
  test("roll triggers extra sampling: a root over nodes.length (1) leaves settles; the extras' commits hit a removed ticket", async () => {
    const { server, commitAs } = await chain(1000);
    const t = server.admin.injectPrompt({ nodes: [7], chunksCount: 4 }).ticketId;
    const r = await commitAs(7, t, "the output", 1, 0);
    expect(r.outcome).toMatchObject({ status: "committed", firstSubmission: true });
    expect(r.events).toEqual(["FirstSubmissionEvent", "NewlySampledNodesEvent", "SettledEvent"]);
    const [ev] = newlySampled(server);
    const decoded = S.NewlySampledNodesEvent.parse(ev!.bcs);
    expect(decoded.new_nodes.map((n) => n.order).sort()).toEqual(["1", "2", "3"]);
    expect(decoded.new_nodes.map((n) => Number(n.node_id.inner)).sort()).toEqual([5, 6, 8]);
    expect(server.ledger.tickets.get(t)?.nodes).toEqual([7n]);
    // Extra nodes 5, 6, 8 in some order with order = 1..3; none of them is in ticket.all.
    const extra = await commitAs(8, t, "the output", 1, 0);
    expect(extra.outcome).toMatchObject({ status: "failed", kind: "ticket_gone" });
  });

  test("roll triggers extra sampling: a chunks_count (4-leaf) root ends in DisputeEvent; an extra node's commit aborts with 312012200", async () => {
    const { server, commitAs } = await chain(1000);
    const t = server.admin.injectPrompt({ nodes: [7], chunksCount: 4 }).ticketId;
    const r = await commitAs(7, t, "the output", 4, 0);
    expect(r.events).toEqual(["FirstSubmissionEvent", "NewlySampledNodesEvent", "DisputeEvent"]);
    for (const id of [5, 6, 8]) {
      const e = await commitAs(id, t, "the output", 4, 1);
      expect(e.outcome).toMatchObject({ status: "failed", kind: "not_awaiting" });
      expect(JSON.stringify(e.tx?.effects.status, (_k, v) => (typeof v === "bigint" ? v.toString() : v))).toContain("312012200");
    }
    expect(server.admin.commitments(t).map((c) => c.nodeSmallId)).toEqual([7n]);
  });

  test("roll does not trigger: the ticket settles at once, whatever the leaf count", async () => {
    const { server, commitAs } = await chain(0);
    for (const n of [1, 4]) {
      const t = server.admin.injectPrompt({ nodes: [7], chunksCount: 4 }).ticketId;
      expect((await commitAs(7, t, `out ${n}`, n, 0)).events).toEqual(["FirstSubmissionEvent", "SettledEvent"]);
    }
  });

  test("not enough other nodes for the extra sampling → RetrySettlementEvent, not settled", async () => {
    const { server, commitAs } = await chain(1000);
    const t = server.admin.injectPrompt({ nodes: [7], chunksCount: 11 }).ticketId; // 10 extras, 3 others registered
    expect((await commitAs(7, t, "x", 1, 0)).events).toEqual(["FirstSubmissionEvent", "RetrySettlementEvent"]);
    expect(server.ledger.tickets.get(t)?.settled).toBe(false);
  });

  test("the default 500 ‰ roll samples extras for some tickets and not others (reproducible: hashed from the seed)", async () => {
    const outcomes = async () => {
      const { server, commitAs } = await chain();
      const out: string[] = [];
      for (let i = 0; i < 12; i++) {
        const t = server.admin.injectPrompt({ nodes: [7], chunksCount: 4 }).ticketId;
        out.push((await commitAs(7, t, `out ${i}`, 1, 0)).events.join(","));
      }
      return out;
    };
    const a = await outcomes();
    expect(a.every((e) => e.endsWith("SettledEvent"))).toBe(true);
    const sampled = a.filter((e) => e.includes("NewlySampledNodesEvent")).length;
    expect(sampled).toBeGreaterThan(0);
    expect(sampled).toBeLessThan(12);
    expect(await outcomes()).toEqual(a);
  }, 60_000);
});
