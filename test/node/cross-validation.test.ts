/**
 * Cross-validation tickets end to end under the default `leaf_count_policy = "nodes"` (issue 8,
 * item 7): `atoma-node run` against the local Sui test server, whose `try_to_settle` models the
 * deployed contract (random roll, extra nodes sampled but not added to ticket.all, root checked
 * against blake2b256 of the single stored leaf). Every ticket must end in SettledEvent — with
 * the old `chunks_count` default, each ticket whose roll sampled extras ended in DisputeEvent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import * as S from "../../src/chain/events/schemas.ts";
import { ensureStories260k } from "../support/models.ts";
import { type Env, MODEL, makeEnv, type NodeProc, rpc, spawnNode, waitFor, independentCommitment } from "./harness.ts";

let env: Env;
let node: NodeProc;
const others = [5, 6, 7];

beforeAll(async () => {
  env = await makeEnv({ modelDir: await ensureStories260k(), extraNodes: others.map((smallId) => ({ address: "0x" + String(smallId).repeat(64), smallId })) });
  node = await spawnNode(env);
});

afterAll(async () => {
  if (node && node.proc.exitCode === null) node.proc.kill("SIGKILL");
  await env?.server.stop();
  if (env) rmSync(env.dir, { recursive: true, force: true });
});

/** Settlement events the server emitted, by ticket id. */
function outcomes(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const tx of env.server.ledger.txs.values()) {
    for (const e of tx.events) {
      const name = e.eventType.split("::").pop()!;
      if (!["SettledEvent", "DisputeEvent", "NewlySampledNodesEvent", "RetrySettlementEvent"].includes(name)) continue;
      const ticket = (S[name as "SettledEvent"].parse(e.bcs) as { ticket_id: string }).ticket_id;
      out.set(ticket, [...(out.get(ticket) ?? []), name]);
    }
  }
  return out;
}

describe("cross-validation tickets on the deployed contract's rules", () => {
  test("8 tickets with one sampled node and chunks_count 4: every one ends in SettledEvent, some after extra sampling", async () => {
    const a = env.server.admin;
    const injected = a.injectPrompts(
      Array.from({ length: 8 }, (_, i) => ({ prompt: `Once upon a time ${i}`, model: MODEL, nodes: [env.smallId], chunksCount: 4, maxTokens: 6, seed: i })),
    );
    const tickets = injected.map((p) => p.ticketId);
    await waitFor("8 settled tickets", () => tickets.every((t) => outcomes().get(t)?.includes("SettledEvent")), 90_000);
    const o = outcomes();
    for (const t of tickets) {
      expect(o.get(t)!.filter((e) => e !== "NewlySampledNodesEvent")).toEqual(["SettledEvent"]);
      const [c] = a.commitments(t);
      const job = (await rpc(env, "job", { ticket_id: t })).jobs[0];
      expect([job.num_leaves, job.leaf_index, job.state]).toEqual([1, 0, "committed"]);
      expect(c!.root).toBe(independentCommitment(job.output, 1, 0).root);
    }
    // The 500 ‰ roll (seeded) sampled extra nodes for some tickets, and those still settled.
    const sampled = tickets.filter((t) => o.get(t)!.includes("NewlySampledNodesEvent"));
    console.log(`${sampled.length} of 8 tickets sampled extra cross-validation nodes; all 8 settled`);
    expect(sampled.length).toBeGreaterThan(0);
    expect(sampled.length).toBeLessThan(8);
  }, 120_000);

  test("sampled as a cross-validation extra: recorded as not run (its commit would abort with 312012200), nothing submitted", async () => {
    const a = env.server.admin;
    const p = a.injectPrompt({ prompt: "The dog", model: MODEL, nodes: [5], chunksCount: 4, maxTokens: 6, seed: 1 });
    a.injectNewlySampled(p.ticketId, [{ nodeId: env.smallId, order: 2 }]);
    const job = await waitFor("the extra's job", async () => (await rpc(env, "job", { ticket_id: p.ticketId }))?.jobs[0]);
    expect(job.state).toBe("failed");
    expect(job.error).toContain("leaf index 2 is not below leaf count 1 (leaf count policy nodes); a cross-validation extra node");
    expect(a.commitments(p.ticketId)).toEqual([]);
    expect(node.log()).not.toMatch(/ERROR .*The dog|ERROR ticket .*cross-validation extra/);
  }, 60_000);
});
