/**
 * `NewlySampledNodesEvent` whose prompt predates the node's start checkpoint (spec §5.4): the node
 * (`atoma-node run`, its own process) never saw the prompt event, looks it up on chain, serves the
 * leaf at index = order and the server receives the commitment recomputed here from the output.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ensureStories260k } from "../support/models.ts";
import { newTicketId } from "../support/sui-server/events.ts";
import { type Env, MODEL, makeEnv, type NodeProc, rpc, spawnNode, waitFor, independentCommitment } from "./harness.ts";

const START = 20;
let env: Env;
let node: NodeProc;
let old: { ticketId: string; checkpoint: bigint };


beforeAll(async () => {
  env = await makeEnv({ modelDir: await ensureStories260k(), startCheckpoint: START, extraNodes: [{ address: "0x" + "5".repeat(64), smallId: 5 }] });
  old = env.server.admin.injectPrompt({ prompt: "A big tree", model: MODEL, nodes: [5, 5, 5], maxTokens: 10, seed: 11 });
  env.server.admin.advance(START - Number(env.server.ledger.tip.seq));
  node = await spawnNode(env);
});

afterAll(async () => {
  if (node && node.proc.exitCode === null) node.proc.kill("SIGKILL");
  await env?.server.stop();
  if (env) rmSync(env.dir, { recursive: true, force: true });
});

describe("resampled prompt older than the node's start checkpoint", () => {
  test("looked up on chain and served at leaf index = order; an unknown ticket never stops the node", async () => {
    const a = env.server.admin;
    expect(old.checkpoint).toBeLessThan(BigInt(START));
    const lost = newTicketId("lost");
    a.injectNewlySampled(lost, [{ nodeId: env.smallId, order: 0 }]);
    a.injectNewlySampled(old.ticketId, [{ nodeId: env.smallId, order: 2 }]);
    const fresh = a.injectPrompt({ prompt: "Once upon a time", model: MODEL, nodes: [env.smallId], maxTokens: 8, seed: 1 });

    const mine = (t: string) => a.commitments(t).find((c) => c.nodeSmallId === BigInt(env.smallId));
    const c = await waitFor("resampled commitment", () => mine(old.ticketId));
    const job = (await rpc(env, "job", { ticket_id: old.ticketId })).jobs[0];
    expect([job.leaf_index, job.num_leaves, c.order, job.prompt]).toEqual([2, 3, 2, "A big tree"]);
    const want = independentCommitment(job.output, 3, 2);
    expect([c.root, c.leaf]).toEqual([want.root, want.leaf]);
    await waitFor("fresh prompt committed", () => mine(fresh.ticketId));
    expect(await rpc(env, "job", { ticket_id: lost })).toBeNull(); // no job yet: the lookup is retried
    expect(node.proc.exitCode).toBeNull();
    expect(node.log()).toContain(`ticket ${old.ticketId}: original prompt found`);
    expect(node.log()).toContain(`ticket ${lost}: original prompt event not found on chain`);
  });
});
