/**
 * Commitment throughput against the local Sui test server: N commitments sent one per transaction
 * vs batched into PTBs of 8 `submit_commitment` calls, printed as a ratio (same process, same
 * machine). `bun run bench:commitments [--n 64] [--latency-ms 0,50]`
 *
 * Caveat printed with the result: real Sui rejects any MoveCall after one that takes `Random`
 * (PostRandomCommandRestrictions), and `submit_commitment` takes `&Random` — so multi-call PTBs only
 * run on a server with that rule switched off. The "batched, restricted" row shows what the node
 * really does by default: the committer hands over batches of 8, sent as one transaction per call.
 */
import { parseArgs } from "node:util";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { createSuiClient } from "../../src/chain/client.ts";
import { SuiCommitmentSubmitter } from "../../src/chain/commitment/submitter.ts";
import type { CommitmentRequest, SignedTx } from "../../src/chain/types.ts";
import { startSuiServer } from "../support/sui-server/index.ts";

const { values } = parseArgs({ options: { n: { type: "string", default: "64" }, "latency-ms": { type: "string", default: "0,50" } } });
const N = Number(values.n);
const latencies = values["latency-ms"]!.split(",").map(Number);

type Mode = "one-per-tx" | "batched-8 (restricted)" | "batched-8 (no Random rule)";

async function run(mode: Mode, latencyMs: number): Promise<{ seconds: number; txs: number }> {
  const kp = Ed25519Keypair.generate();
  const relaxed = mode === "batched-8 (no Random rule)";
  const server = await startSuiServer({ seed: `bench-${mode}-${latencyMs}`, enforceRandomRestriction: !relaxed, nodes: [{ address: kp.toSuiAddress(), smallId: 7, gasCoins: 2, gasBalance: 1_000_000_000_000n }] });
  try {
    const info = server.admin.info();
    const submitter = new SuiCommitmentSubmitter({
      client: createSuiClient({ network: "localnet", httpUrl: server.url }), keypair: kp, packageId: info.packageId,
      atomaDbId: info.atomaDbId, nodeBadgeId: info.nodes[0]!.badgeId, gasBudget: 5_000_000n, requestTimeoutMs: 10_000,
      randomRestriction: !relaxed,
    });
    const requests: CommitmentRequest[] = Array.from({ length: N }, (_, i) => ({
      ticketId: server.admin.injectPrompt({ nodes: [7, 8] }).ticketId, inputTokens: 10n, outputTokens: 20n,
      merkleRoot: new Uint8Array(32).fill(i % 256), leaf: new Uint8Array(32).fill(7),
    }));
    const sent: SignedTx[] = [];
    const outbox = { record: (tx: SignedTx) => void sent.push(tx) };
    // Finality latency of a real network, modelled as a delay on every ExecuteTransaction.
    if (latencyMs > 0) server.admin.setFaults({ delay: { method: "ExecuteTransaction", ms: latencyMs, count: 1_000_000 } });
    const t0 = performance.now();
    let outcomes;
    if (mode === "one-per-tx") {
      outcomes = [];
      for (const r of requests) outcomes.push(...(await submitter.submit([r], outbox)));
    } else {
      // As the Committer does: one submit() per batch of up to 8 ready commitments.
      outcomes = [];
      for (let i = 0; i < requests.length; i += 8) outcomes.push(...(await submitter.submit(requests.slice(i, i + 8), outbox)));
    }
    const seconds = (performance.now() - t0) / 1000;
    const bad = outcomes.filter((o) => o.status !== "committed");
    if (bad.length > 0) throw new Error(`${mode}: ${bad.length} commitments not committed: ${JSON.stringify(bad[0])}`);
    if (server.admin.commitments().length !== N) throw new Error(`${mode}: server holds ${server.admin.commitments().length} commitments, expected ${N}`);
    return { seconds, txs: sent.length };
  } finally {
    await server.stop();
  }
}

console.log(`commitments: N=${N}, local Sui test server, ${process.platform}/${process.arch}, bun ${Bun.version}`);
for (const latency of latencies) {
  await run("one-per-tx", latency); // warm-up (JIT, sockets)
  const rows: [Mode, { seconds: number; txs: number }][] = [];
  for (const mode of ["one-per-tx", "batched-8 (restricted)", "batched-8 (no Random rule)"] as Mode[]) rows.push([mode, await run(mode, latency)]);
  const base = N / rows[0]![1].seconds;
  console.log(`\nexecute latency ${latency} ms`);
  for (const [mode, r] of rows) {
    const tput = N / r.seconds;
    console.log(`  ${mode.padEnd(28)} ${r.txs.toString().padStart(4)} txs  ${tput.toFixed(1).padStart(8)} commitments/s  ratio ${(tput / base).toFixed(2)}x`);
  }
}
console.log("\nNote: real Sui rejects PTBs with a MoveCall after a Random-using call; submit_commitment takes &Random,");
console.log("so only the first two rows are achievable on chain today (see README, Sui integration → commitments).");
