/**
 * should_stream_output end to end: `atoma-node run` against the local Sui test server; a prompt
 * event asking for streamed output is followed over GET /v1/jobs/<ticket>/stream while the node
 * generates it, and the streamed text must be exactly the output the chain got a commitment to.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ensureStories260k } from "../support/models.ts";
import { type Env, MODEL, makeEnv, type NodeProc, rpc, spawnNode, waitFor, independentCommitment } from "./harness.ts";

let env: Env;
let node: NodeProc;

beforeAll(async () => {
  env = await makeEnv({ modelDir: await ensureStories260k() });
  node = await spawnNode(env);
});
afterAll(async () => {
  if (node && node.proc.exitCode === null) node.proc.kill("SIGKILL");
  await env?.server.stop();
  if (env) rmSync(env.dir, { recursive: true, force: true });
});

test("the SSE stream of a should_stream_output job equals the committed output", async () => {
  const a = env.server.admin;
  const inj = a.injectPrompt({ prompt: "Once upon a time", model: MODEL, nodes: [env.smallId], maxTokens: 300, temperature: 1, seed: 1, shouldStreamOutput: true });
  // Subscribe as soon as the node has seen the event (404 before).
  const res = await waitFor("the ticket to be known", async () => {
    const r = await fetch(`${env.url}/v1/jobs/${inj.ticketId}/stream`);
    if (r.status === 404) return null;
    return r;
  }, 30_000);
  expect(res.status).toBe(200);
  const blocks = (await res.text()).split("\n\n").filter((b) => b.startsWith("data: ")).map((b) => b.slice(6));
  expect(blocks.at(-1)).toBe("[DONE]");
  const evs = blocks.slice(0, -1).map((b) => JSON.parse(b));
  const streamed = evs.filter((e) => "text" in e).map((e) => e.text).join("");
  expect(evs.at(-1)).toMatchObject({ ticket_id: inj.ticketId, done: true });

  const mine = () => a.commitments(inj.ticketId).filter((c) => c.nodeSmallId === BigInt(env.smallId));
  await waitFor("the commitment", () => mine().length > 0, 60_000);
  const job = (await rpc(env, "job", { ticket_id: inj.ticketId })).jobs[0];
  expect(streamed).toBe(job.output);
  expect(streamed.length).toBeGreaterThan(100);
  expect(mine()[0]!.root).toBe(independentCommitment(streamed, 1, 0).root);
});
