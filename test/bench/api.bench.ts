/**
 * OpenAI API load test (not a test): `bun run bench:api [--clients 32] [--seconds 20] [--max-tokens 48]`.
 *
 * The node's HTTP server (createApi + Bun.serve, loopback only) with the trained stories260K model,
 * driven by the official `openai` client: `--clients` concurrent streamed chats for a bounded time,
 * each client starting its next chat as soon as one ends. Deliberate 429s (the per-model queue is
 * 16 by default, below 32 clients) are counted and retried after Retry-After; any other error fails
 * the run. Reports aggregate tokens/s, p50/p99 time to first token and inter-token latency.
 * Baseline in the same run: the engine's own single-stream tokens/s for the same requests, so the
 * API's aggregate is printed as a ratio of it (one model runs one generation at a time).
 */
import { parseArgs } from "node:util";
import OpenAI from "openai";
import { NodeMetrics } from "../../src/log/metrics.ts";
import { Admission, DEFAULT_ADMISSION } from "../../src/api/openai/admission.ts";
import { createApi, serveApi } from "../../src/api/server.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { ModelSlot } from "../../src/jobs/scheduler.ts";
import { Semaphore } from "../../src/jobs/semaphore.ts";
import { setLogLevel } from "../../src/log/logger.ts";
import { ensureStories260k } from "../support/models.ts";

const { values } = parseArgs({ options: { clients: { type: "string", default: "32" }, seconds: { type: "string", default: "20" }, "max-tokens": { type: "string", default: "48" } } });
const clients = Number(values.clients);
const seconds = Number(values.seconds);
const maxTokens = Number(values["max-tokens"]);
setLogLevel("warn");

const engine = await loadTextEngine({ id: "stories260k", dir: await ensureStories260k(), device: "cpu", dtype: "f32" });
const models = new Map<string, ModelSlot>([["stories260k", { engine, lock: new Semaphore(1) }]]);
const metrics = new NodeMetrics();
const srv = serveApi(createApi({ models, store: undefined, metrics, timeoutMs: 120_000, nodeInfo: () => ({}), admission: new Admission(DEFAULT_ADMISSION) }), "127.0.0.1", 0);
const api = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "unused", maxRetries: 0 });
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const prompts = ["Once upon a time", "Lily and Ben", "The little dog", "One day, a bird", "Tom had a red ball"];

// Baseline: the engine alone, same prompts rendered as the chat route renders them, one at a time.
const render = (p: string) => `user: ${p}\nassistant:`;
for (let i = 0; i < 3; i++) await engine.generate({ prompt: render(prompts[0]!), params: { maxTokens, temperature: 1, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(i) } });
/** Engine tokens/s for 3 s; measured before and after the load phase (this machine is shared). */
async function baseline(): Promise<number> {
  let n = 0;
  const b0 = performance.now();
  for (let i = 0; performance.now() - b0 < 3000; i++) {
    const r = await engine.generate({ prompt: render(prompts[i % prompts.length]!), params: { maxTokens, temperature: 1, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: BigInt(i) } });
    n += r.outputTokens;
  }
  return n / ((performance.now() - b0) / 1000);
}
const baseBefore = await baseline();

const ttft: number[] = [];
const itl: number[] = [];
let tokens = 0;
let chats = 0;
let rejected = 0;
const errors: string[] = [];
const deadline = performance.now() + seconds * 1000;
const t0 = performance.now();

async function client(id: number): Promise<void> {
  for (let n = 0; performance.now() < deadline; n++) {
    const start = performance.now();
    try {
      const stream = await api.chat.completions.create({
        model: "stories260k",
        messages: [{ role: "user", content: prompts[(id + n) % prompts.length]! }],
        max_tokens: maxTokens,
        temperature: 1,
        seed: id * 1000 + n,
        stream: true,
        stream_options: { include_usage: true },
      });
      let last = 0;
      for await (const ch of stream) {
        if (ch.usage) tokens += ch.usage.completion_tokens;
        if (!ch.choices[0]?.delta.content) continue;
        const now = performance.now();
        if (last === 0) ttft.push(now - start);
        else itl.push(now - last);
        last = now;
      }
      chats++;
    } catch (e) {
      if (e instanceof OpenAI.RateLimitError) {
        rejected++;
        await Bun.sleep(Math.min(1000, Number(e.headers?.get("retry-after") ?? 1) * 1000) * Math.random());
      } else errors.push((e as Error).message);
    }
  }
}

await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
const wall = (performance.now() - t0) / 1000;
await srv.stop();
const baseAfter = await baseline();
const baseRate = (baseBefore + baseAfter) / 2;
await engine.dispose();
const rate = tokens / wall;
const f = (x: number) => x.toFixed(1);
console.log(`bench:api  ${clients} concurrent streamed chats, ${seconds} s, max_tokens ${maxTokens}, stories260K f32 cpu, queue ${DEFAULT_ADMISSION.queueSize}/model`);
console.log(`  chats completed ${chats}, deliberate 429s ${rejected}, other errors ${errors.length}${errors.length ? ` (${errors[0]})` : ""}`);
console.log(`  aggregate ${f(rate)} tokens/s   engine alone (same run, before/after) ${f(baseBefore)}/${f(baseAfter)} tokens/s   ratio ${(rate / baseRate).toFixed(2)}`);
console.log(`  time to first token  p50 ${f(pct(ttft, 50))} ms  p99 ${f(pct(ttft, 99))} ms`);
console.log(`  inter-token latency  p50 ${f(pct(itl, 50))} ms  p99 ${f(pct(itl, 99))} ms`);
if (errors.length) process.exit(1);
