/**
 * Node overhead per job with a remote engine (not a test):
 *   bun run bench:remote [--jobs N] [--max-tokens T] [--token-delay-ms D] [--kind vllm]
 *
 * The real node (`startNode`, chain mode) against the local Sui test server, its model served by
 * the test upstream (test/support/openai-upstream.ts) running as its own process. Jobs are injected
 * one at a time. Same-run baseline: before each job the same completion request is sent straight to
 * the upstream with a bare fetch (`upstream time`: what any client pays). Per job:
 *   overhead        = (tx sent − event recorded) − upstream time   (everything the node adds)
 *   remote client   = generation as the node measured it − upstream time   (pool, SSE parsing, retries)
 * and the overhead as a ratio of the upstream time.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/config/load.ts";
import { setLogLevel } from "../../src/log/logger.ts";
import { startNode } from "../../src/node.ts";
import { committedJob, percentile, pollUntil } from "./chain-jobs.ts";
import type { JobRecord } from "../../src/jobs/types.ts";
import { MODEL, ROOT, makeEnv } from "../node/harness.ts";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "100" }, "max-tokens": { type: "string", default: "16" }, "token-delay-ms": { type: "string", default: "1" }, kind: { type: "string", default: "vllm" } } });
const N = Number(values.jobs);
const maxTokens = Number(values["max-tokens"]);
const kind = values.kind!;
setLogLevel(process.env.BENCH_LOG ? "debug" : "warn");

const up = Bun.spawn([process.execPath, join(ROOT, "test/support/openai-upstream.ts"), "--kind", kind, "--model", MODEL, "--token-delay-ms", values["token-delay-ms"]!], { stdout: "pipe", stderr: "inherit" });
const reader = (up.stdout as ReadableStream<Uint8Array>).getReader();
let line = "";
while (!line.includes("\n")) line += new TextDecoder().decode((await reader.read()).value);
reader.releaseLock();
const upstreamUrl = /listening (\S+)/.exec(line)![1]!;

const env = await makeEnv({ modelDir: "", modelsToml: `[[inference.models]]\nmodel_id = "${MODEL}"\nengine = "${kind}"\nurl = "${upstreamUrl}"\nmax_concurrent = 4\n` });
const node = await startNode(loadConfig({ config: env.configPath }));
const store = node.store!;
const a = env.server.admin;
const pct = percentile;
const sent = (t: string): JobRecord | undefined => committedJob(store, t);
const until = pollUntil;

/** The baseline: one streamed completion straight to the upstream, read to [DONE]. */
async function direct(prompt: string, seed: number): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${upstreamUrl}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, prompt, max_tokens: maxTokens, temperature: 0.8, seed, stream: true, stream_options: { include_usage: true } }),
  });
  const text = await res.text();
  if (!text.includes("[DONE]")) throw new Error(`baseline request failed: ${text.slice(0, 200)}`);
  return performance.now() - t0;
}

try {
  for (let i = 0; i < 3; i++) {
    const w = a.injectPrompt({ prompt: "warm up", model: MODEL, nodes: [env.smallId], maxTokens, seed: i });
    await until(() => sent(w.ticketId));
    await direct("warm up", i);
  }
  const overhead: number[] = [];
  const upstream: number[] = [];
  const client: number[] = [];
  const chain: number[] = [];
  for (let i = 0; i < N; i++) {
    const prompt = `Once upon a time ${i}`;
    const base = await direct(prompt, i);
    const p = a.injectPrompt({ prompt, model: MODEL, nodes: [env.smallId], maxTokens, temperature: 0.8, seed: i });
    const j = await until(() => sent(p.ticketId));
    upstream.push(base);
    overhead.push(j.txSentAtMs! - j.receivedAtMs - base);
    client.push(j.generationMs! - base);
    chain.push(j.txSentAtMs! - j.receivedAtMs - j.generationMs!);
  }
  const row = (name: string, xs: number[]) => `${name.padEnd(52)} p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms   p99 ${pct(xs, 99).toFixed(1).padStart(7)} ms`;
  console.log(`remote engine overhead, ${N} jobs one at a time, ${kind}-shaped test upstream (own process, ${values["token-delay-ms"]} ms/token), max_tokens ${maxTokens}, local Sui test server (in process)`);
  console.log(row("upstream time (baseline: bare fetch, same request)", upstream));
  console.log(row("node overhead (event → tx sent − upstream time)", overhead));
  console.log(row("  of which: remote client (generation − upstream)", client));
  console.log(row("  of which: chain side (event → tx sent − generation)", chain));
  console.log(`node overhead / upstream time at p50: ${(pct(overhead, 50) / pct(upstream, 50)).toFixed(2)}×`);
} finally {
  await node.stop("benchmark done");
  await env.server.stop();
  up.kill();
  rmSync(env.dir, { recursive: true, force: true });
}
