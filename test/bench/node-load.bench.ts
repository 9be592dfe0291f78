/**
 * Node under load (not a test; part of `npm run bench:engine`): 64 chain jobs arriving at once
 * through the local Sui test server, the real node (`startNode`, chain mode) with stories260K f32
 * on cpu, once with the model decoding up to 8 jobs together (`max_batch = 8`, the default) and
 * once one at a time (`max_batch = 1`), same prompts and seeds. Prints jobs/s and p50/p99 of
 * event recorded → transaction sent, the ratio batched / unbatched, and whether every output
 * (the committed text, compared through the stored Merkle roots) is the same in both runs.
 * `bun test/bench/node-load.bench.ts [--jobs 64] [--max-tokens 32]`
 */
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/config/load.ts";
import { setLogLevel } from "../../src/log/logger.ts";
import { startNode } from "../../src/node.ts";
import type { JobRecord } from "../../src/jobs/types.ts";
import { ensureStories260k } from "../support/models.ts";
import { MODEL, makeEnv } from "../node/harness.ts";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "64" }, "max-tokens": { type: "string", default: "32" } } });
const N = Number(values.jobs);
const maxTokens = Number(values["max-tokens"]);
setLogLevel(process.env.BENCH_LOG ? "debug" : "warn");
const modelDir = await ensureStories260k();
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function run(maxBatch: number): Promise<{ jobsPerS: number; p50: number; p99: number; roots: string[] }> {
  const env = await makeEnv({
    modelDir,
    modelsToml: `[[inference.models]]\nmodel_id = "${MODEL}"\npath = "${modelDir}"\ndevice = "cpu"\ndtype = "f32"\nmax_batch = ${maxBatch}\n`,
  });
  const node = await startNode(loadConfig({ config: env.configPath }));
  const store = node.store!;
  const a = env.server.admin;
  const sent = (t: string): JobRecord | undefined => {
    const j = store.byTicket(t)[0];
    return j && j.txSentAtMs !== null ? j : undefined;
  };
  const until = async (ok: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error("timed out");
      await Bun.sleep(2);
    }
  };
  try {
    const w = a.injectPrompt({ prompt: "warm up", model: MODEL, nodes: [env.smallId], maxTokens, seed: 1 });
    await until(() => sent(w.ticketId) !== undefined, 60_000);
    const t0 = performance.now();
    const tickets = a
      .injectPrompts(Array.from({ length: N }, (_, i) => ({ prompt: `${["Once upon a time", "The dog", "Lily saw a"][i % 3]} ${i}`, model: MODEL, nodes: [env.smallId], maxTokens, temperature: 0.8, seed: 1000 + i })))
      .map((p) => p.ticketId);
    await until(() => tickets.every((t) => sent(t)), 600_000);
    const s = (performance.now() - t0) / 1000;
    const jobs = tickets.map((t) => sent(t)!);
    const lat = jobs.map((j) => j.txSentAtMs! - j.receivedAtMs);
    return { jobsPerS: N / s, p50: pct(lat, 50), p99: pct(lat, 99), roots: jobs.map((j) => j.rootHex ?? "") };
  } finally {
    await node.stop("benchmark done");
    await env.server.stop();
    rmSync(env.dir, { recursive: true, force: true });
  }
}

const un = await run(1);
const ba = await run(8);
console.log(`node under load: ${N} chain jobs in one checkpoint, stories260K f32 cpu, max_tokens ${maxTokens}, temperature 0.8, local Sui test server (in process)`);
console.log(`  unbatched (max_batch = 1): ${un.jobsPerS.toFixed(1).padStart(6)} jobs/s   event → tx sent p50 ${un.p50.toFixed(0).padStart(6)} ms   p99 ${un.p99.toFixed(0).padStart(6)} ms`);
console.log(`  batched   (max_batch = 8): ${ba.jobsPerS.toFixed(1).padStart(6)} jobs/s   event → tx sent p50 ${ba.p50.toFixed(0).padStart(6)} ms   p99 ${ba.p99.toFixed(0).padStart(6)} ms`);
console.log(`  ratio batched / unbatched: ${(ba.jobsPerS / un.jobsPerS).toFixed(2)}× jobs/s, p50 latency ${(un.p50 / ba.p50).toFixed(2)}× lower; committed outputs identical: ${ba.roots.every((r, i) => r !== "" && r === un.roots[i])}`);
