/**
 * Node overhead per job (not a test): `bun run bench:node [--jobs N] [--max-tokens T]`.
 *
 * The real node (`startNode`, chain mode) against the local Sui test server, with the trained
 * stories260K model. Prompts are injected one at a time, so no job waits behind another, and for
 * each the store's timestamps give
 *   overhead = (transaction recorded & sent) − (event recorded by the node) − generation time,
 * i.e. everything the node adds around inference: ingest, wake-up, claim, commitment hashing,
 * transaction build + sign + outbox write. A burst phase then reports throughput with queueing.
 * Baseline printed alongside: the generation time itself (overhead as a ratio of it).
 */
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/config/load.ts";
import { setLogLevel } from "../../src/log/logger.ts";
import { startNode } from "../../src/node.ts";
import { committedJob, percentile, pollUntil } from "./chain-jobs.ts";
import type { JobRecord } from "../../src/jobs/types.ts";
import { ensureStories260k } from "../support/models.ts";
import { MODEL, makeEnv } from "../node/harness.ts";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "100" }, "max-tokens": { type: "string", default: "16" }, burst: { type: "string", default: "100" } } });
const N = Number(values.jobs);
const maxTokens = Number(values["max-tokens"]);
const burst = Number(values.burst);
setLogLevel(process.env.BENCH_LOG ? "debug" : "warn");

const env = await makeEnv({ modelDir: await ensureStories260k() });
const node = await startNode(loadConfig({ config: env.configPath }));
const store = node.store!;
const a = env.server.admin;
const pct = percentile;
const sent = (t: string): JobRecord | undefined => committedJob(store, t);
const until = pollUntil;

try {
  // Warm-up: first transaction reads objects and gas price; first generation warms ONNX Runtime.
  for (let i = 0; i < 3; i++) {
    const w = a.injectPrompt({ prompt: "warm up", model: MODEL, nodes: [env.smallId], maxTokens, seed: i });
    await until(() => sent(w.ticketId));
  }

  const overhead: number[] = [];
  const gen: number[] = [];
  const e2e: number[] = [];
  const claim: number[] = [];
  const submit: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const p = a.injectPrompt({ prompt: `Once upon a time ${i}`, model: MODEL, nodes: [env.smallId], maxTokens, temperature: 0.8, seed: i });
    const j = await until(() => sent(p.ticketId));
    e2e.push(performance.now() - t0);
    overhead.push(j.txSentAtMs! - j.receivedAtMs - j.generationMs!);
    gen.push(j.generationMs!);
    claim.push(j.startedAtMs! - j.receivedAtMs);
    submit.push(j.txSentAtMs! - j.generatedAtMs!);
  }
  const row = (name: string, xs: number[]) => `${name.padEnd(44)} p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms   p99 ${pct(xs, 99).toFixed(1).padStart(7)} ms`;
  console.log(`node overhead, ${N} jobs one at a time, stories260K f32 cpu, max_tokens ${maxTokens}, local Sui test server (in process)`);
  console.log(row("overhead (event recorded → tx sent − generation)", overhead));
  console.log(row("  of which: event recorded → job claimed", claim));
  console.log(row("  of which: generated → tx signed+recorded", submit));
  console.log(row("generation (baseline)", gen));
  console.log(row("injection → commitment accepted (incl. follower)", e2e));
  console.log(`overhead / generation at p50: ${(pct(overhead, 50) / pct(gen, 50)).toFixed(2)}×   target p50 < 50 ms: ${pct(overhead, 50) < 50 ? "met" : "NOT met"}`);

  const t0 = performance.now();
  const tickets = a.injectPrompts(Array.from({ length: burst }, (_, i) => ({ prompt: `The dog ${i}`, model: MODEL, nodes: [env.smallId], maxTokens, seed: 1000 + i }))).map((p) => p.ticketId);
  await until(() => (tickets.every((t) => sent(t)) ? true : undefined), 300_000);
  const s = (performance.now() - t0) / 1000;
  const genSum = tickets.reduce((acc, t) => acc + sent(t)!.generationMs!, 0) / 1000;
  console.log(`burst of ${burst} prompts in one checkpoint: all committed in ${s.toFixed(2)} s (${(burst / s).toFixed(1)} jobs/s; generation alone ${genSum.toFixed(2)} s = ${((genSum / s) * 100).toFixed(0)}% of wall time)`);
} finally {
  await node.stop("benchmark done");
  await env.server.stop();
  rmSync(env.dir, { recursive: true, force: true });
}
