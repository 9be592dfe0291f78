/**
 * Crash safety. Two deterministic kill points, driven from the local Sui test server's faults:
 * SIGKILL after the commitment transaction is recorded and sent but before it executes (the server
 * holds the call and drops it when the client goes away), and after it executed but before the
 * node stored the result (the server executes and holds the response). Each restart must take the
 * resume path for that very transaction. Then 60 prompts with the node SIGKILLed at seeded random
 * moments: every ticket must end with exactly one accepted commitment from this node — none lost,
 * none submitted twice (no second transaction aborting with EAlreadyCommitted).
 */
import { afterEach, beforeAll, expect, test } from "bun:test";
import { TransactionDataBuilder } from "@mysten/sui/transactions";
import { fromBase64 } from "@mysten/sui/utils";
import { rmSync } from "node:fs";
import { ensureStories260k } from "../support/models.ts";
import { type Env, MODEL, makeEnv, type NodeProc, rpc, spawnNode, waitFor } from "./harness.ts";

let modelDir: string;
let env: Env | undefined;
let node: NodeProc | undefined;

beforeAll(async () => {
  modelDir = await ensureStories260k();
});
afterEach(async () => {
  if (node && node.proc.exitCode === null) node.proc.kill("SIGKILL");
  node = undefined;
  await env?.server.stop();
  if (env) rmSync(env.dir, { recursive: true, force: true });
  env = undefined;
});

async function kill(n: NodeProc): Promise<string> {
  n.proc.kill("SIGKILL");
  await n.proc.exited;
  return n.log();
}

const mine = (e: Env, t: string) => e.server.admin.commitments(t).filter((c) => c.nodeSmallId === BigInt(e.smallId));
const ourFailedTxs = (e: Env) => [...e.server.admin.ledger.txs.values()].filter((tx) => tx.sender === e.key.toSuiAddress() && tx.effects.status?.success === false).map((tx) => tx.digest);
const resumed = (log: string, digest: string) => log.split("\n").filter((l) => l.includes(`resuming commitment transaction ${digest}`)).length;

/** Digest of the transaction carried by an ExecuteTransaction call the server logged. */
function digestOfCall(input: unknown): string {
  const b64 = (input as { transaction?: { bcs?: { value?: string } } }).transaction?.bcs?.value;
  if (!b64) throw new Error(`ExecuteTransaction call without transaction bytes: ${JSON.stringify(input).slice(0, 200)}`);
  return TransactionDataBuilder.getDigestFromBytes(fromBase64(b64));
}

test("deterministic kill points: recorded-not-executed and executed-not-stored are both resumed", async () => {
  const e = (env = await makeEnv({ modelDir, maxBatchSize: 4 }));
  const a = e.server.admin;
  const executes = () => a.calls("ExecuteTransaction");
  const prompt = (i: number) => ({ prompt: `Once upon a time ${i}`, model: MODEL, nodes: [e.smallId], maxTokens: 8, temperature: 0, seed: i });

  // 1. Recorded and sent, never executed: the server holds the call; the node dies while it is held.
  a.setFaults({ holdExecute: { count: 1, ms: 120_000 } });
  node = await spawnNode(e);
  const { ticketId: t1 } = a.injectPrompt(prompt(1));
  const held = await waitFor("the commitment transaction to reach the server", () => executes()[0], 60_000);
  const d1 = digestOfCall(held.input);
  const log1 = await kill(node);
  expect({ point: 1, committed: mine(e, t1).length, executed: a.ledger.txs.has(d1) }).toEqual({ point: 1, committed: 0, executed: false });
  node = await spawnNode(e);
  await waitFor("ticket 1 committed after restart", () => mine(e, t1).length === 1, 60_000);
  const job1 = await waitFor("job 1 committed in the store", async () => ((await rpc(e, "jobs", { limit: 10 })) as any[]).find((j) => j.ticket_id === t1 && j.state === "committed"), 30_000);
  expect({ point: 1, tx: job1.tx_digest, onChain: mine(e, t1)[0]!.txDigest }).toEqual({ point: 1, tx: d1, onChain: d1 }); // the recorded bytes, not a new transaction
  expect({ point: 1, resumedBeforeKill: resumed(log1, d1), resumedAfterRestart: resumed(node.log(), d1) >= 1 }).toEqual({ point: 1, resumedBeforeKill: 0, resumedAfterRestart: true });

  // 2. Executed, response never reached the node: killed before it stored the result.
  a.setFaults({ executeTimeout: { count: 1, mode: "hang", hangMs: 120_000 } });
  const before = executes().length;
  const { ticketId: t2 } = a.injectPrompt(prompt(2));
  await waitFor("ticket 2's transaction to execute", () => mine(e, t2).length === 1 && executes().length > before, 60_000);
  const d2 = mine(e, t2)[0]!.txDigest;
  // The response is held, so the node cannot have stored the outcome yet.
  const stored = ((await rpc(e, "jobs", { limit: 10 })) as any[]).find((j) => j.ticket_id === t2);
  expect({ point: 2, state: stored?.state, tx: stored?.tx_digest }).toEqual({ point: 2, state: "generated", tx: d2 });
  await kill(node);
  node = await spawnNode(e);
  const job2 = await waitFor("job 2 committed in the store after restart", async () => ((await rpc(e, "jobs", { limit: 10 })) as any[]).find((j) => j.ticket_id === t2 && j.state === "committed"), 60_000);
  expect({ point: 2, tx: job2.tx_digest, commitments: mine(e, t2).length, resumed: resumed(node.log(), d2) >= 1 }).toEqual({ point: 2, tx: d2, commitments: 1, resumed: true });

  expect(ourFailedTxs(e)).toEqual([]);
  expect(a.commitments().length).toBe(2);
  node.proc.kill("SIGTERM");
  expect(await node.proc.exited).toBe(0);
}, 240_000);

/** Small deterministic PRNG so a failing schedule can be replayed from the printed seed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

test("SIGKILL at seeded random moments: every ticket committed exactly once", async () => {
  const seed = Number(process.env.CRASH_SEED ?? 20261201);
  const kills: string[] = [];
  try {
    await randomKills(seed, kills);
  } catch (err) {
    const e = err as Error;
    e.message = `CRASH_SEED=${seed} (${kills.join("; ") || "no kills yet"}): ${e.message}`;
    throw e;
  }
}, 240_000);

async function randomKills(seed: number, kills: string[]): Promise<void> {
  const rand = rng(seed);
  const e = (env = await makeEnv({ modelDir, maxBatchSize: 4 }));
  const a = e.server.admin;
  const tickets: string[] = [];
  let n = 0;
  const inject = (count: number) => {
    const batch = Array.from({ length: count }, () => {
      const i = n++;
      return { prompt: `Once upon a time ${i}`, model: MODEL, nodes: i % 5 === 0 ? [9, e.smallId] : [e.smallId], maxTokens: 16 + (i % 12), temperature: (i % 3) * 0.4, seed: i };
    });
    // A few prompts per transaction, like a busy chain.
    for (let k = 0; k < batch.length; k += 3) tickets.push(...a.injectPrompts(batch.slice(k, k + 3)).map((p) => p.ticketId));
  };

  node = await spawnNode(e);
  inject(24);
  const logs: string[] = [];
  for (let round = 0; round < 5; round++) {
    await Bun.sleep(50 + Math.floor(rand() * 700));
    const committed = a.commitments().length;
    logs.push(await kill(node));
    kills.push(`kill ${round} after ${committed} commitments`);
    inject(8); // the chain moves on while the node is down
    node = await spawnNode(e);
  }
  inject(4);
  expect(tickets.length).toBeGreaterThanOrEqual(60);

  try {
    await waitFor("every ticket committed", () => tickets.every((t) => mine(e, t).length >= 1), 120_000);
  } catch {
    const missing = tickets.filter((t) => mine(e, t).length === 0);
    throw new Error(`${missing.length} ticket(s) never committed\n${node.log().slice(-4000)}`);
  }
  for (const t of tickets) expect({ t, n: mine(e, t).length }).toEqual({ t, n: 1 });
  expect(a.commitments().length).toBe(tickets.length);

  // No transaction of ours failed on chain (a duplicate commitment would abort with 312012201).
  expect(ourFailedTxs(e)).toEqual([]);

  // The store agrees: every job committed, none left behind.
  const jobs: any[] = await rpc(e, "jobs", { limit: 1000 });
  expect(jobs.length).toBe(tickets.length);
  expect(jobs.filter((j) => j.state !== "committed").map((j) => [j.ticket_id, j.state, j.error])).toEqual([]);
  const digests = new Set(jobs.map((j) => j.tx_digest));
  const all = [...logs, node.log()].join("\n");
  const count = (re: RegExp) => (all.match(re) ?? []).length;
  console.log(
    `crash test CRASH_SEED=${seed}: ${kills.join("; ")}; ${tickets.length} tickets in ${digests.size} transactions; ` +
      `${count(/recovered \d+ interrupted/g)} restarts re-ran interrupted generations, ${count(/resuming commitment transaction/g)} in-doubt transactions resumed`,
  );
  node.proc.kill("SIGTERM");
  expect(await node.proc.exited).toBe(0);
}
