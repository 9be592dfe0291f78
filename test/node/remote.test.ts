/**
 * Chain jobs through `atoma-node run` served by remote engines: the local Sui test server, the node
 * as its own process, and test upstreams (test/support/openai-upstream) speaking vLLM's and
 * llama.cpp's OpenAI-compatible shapes. One of two upstream processes is SIGKILLed mid-run; an
 * upstream that returns garbage, stalls or closes mid-stream fails its job with a clear error.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { createRemoteEngine } from "../../src/engine/remote/index.ts";
import type { SamplingParams } from "../../src/engine/types.ts";
import { startUpstream, type FakeKind, type FakeUpstream } from "../support/openai-upstream/index.ts";
import { type Env, MODEL, ROOT, independentCommitment, makeEnv, type NodeProc, rpc, spawnNode, waitFor } from "./harness.ts";

/** The test server's defaults for fields a prompt leaves out (see test/node/e2e.test.ts). */
const chainParams = (maxTokens: number, seed: number, temperature = 0.7): SamplingParams => ({
  maxTokens, temperature: Math.fround(temperature), topK: 40, topP: Math.fround(0.9), repeatPenalty: Math.fround(1.1), repeatLastN: 64, seed: BigInt(seed),
});

async function spawnUpstream(kind: FakeKind, delayMs: number): Promise<{ proc: Subprocess; url: string }> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "test/support/openai-upstream.ts"), "--kind", kind, "--model", MODEL, "--token-delay-ms", String(delayMs)], { stdout: "pipe", stderr: "inherit" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`upstream exited: ${out}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { proc, url: /listening (\S+)/.exec(out)![1]! };
}

/** What a clean upstream of this kind answers for a job (the fake model is deterministic). */
async function cleanText(kind: FakeKind, prompt: string, p: SamplingParams): Promise<string> {
  const u = await startUpstream({ kind, model: MODEL });
  const e = await createRemoteEngine(MODEL, { kind, urls: [u.url], servedModel: MODEL, apiKey: undefined, maxConcurrent: 1, timeoutMs: 5000, stallTimeoutMs: 5000, retries: 0, healthIntervalMs: 60_000, tokenizer: undefined, contextLength: undefined });
  try {
    return (await e.generate({ prompt, params: p })).text;
  } finally {
    await e.dispose();
    await u.stop();
  }
}

const remoteToml = (kind: string, urls: string[], extra = "") => `[[inference.models]]
model_id = "${MODEL}"
engine = "${kind}"
urls = [${urls.map((u) => JSON.stringify(u)).join(", ")}]
api_key = "remote-secret-key-0123"
max_concurrent = 2
timeout_ms = 5000
stall_timeout_ms = 500
health_interval_ms = 200
${extra}
`;

describe("two vLLM upstreams, one killed mid-run", () => {
  let env: Env;
  let node: NodeProc;
  const procs: Subprocess[] = [];

  beforeAll(async () => {
    const a = await spawnUpstream("vllm", 40);
    const b = await spawnUpstream("vllm", 40);
    procs.push(a.proc, b.proc);
    env = await makeEnv({ modelDir: "", modelsToml: remoteToml("vllm", [a.url, b.url], "retries = 3"), maxConcurrent: 4 });
    node = await spawnNode(env);
  });

  afterAll(async () => {
    if (node && node.proc.exitCode === null) node.proc.kill("SIGKILL");
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    await env?.server.stop();
    if (env) rmSync(env.dir, { recursive: true, force: true });
  });

  test("in-flight jobs of the killed upstream finish on the other: none lost, none committed twice, texts complete", async () => {
    const a = env.server.admin;
    const prompts = Array.from({ length: 12 }, (_, i) => ({ prompt: `Story number ${i}`, model: MODEL, nodes: [env.smallId], maxTokens: 24, temperature: 0.7, seed: 100 + i }));
    const injected = a.injectPrompts(prompts);
    // Both upstreams stream at 40 ms a word; kill one while its first jobs are half-way.
    await waitFor("jobs running", async () => ((await rpc(env, "node_info")).running as number) >= 4, 20_000);
    await Bun.sleep(300);
    procs[0]!.kill("SIGKILL");
    const ours = () => a.commitments().filter((c) => c.nodeSmallId === BigInt(env.smallId));
    await waitFor("12 commitments", () => ours().length >= injected.length, 60_000);
    await Bun.sleep(500);
    expect(ours()).toHaveLength(injected.length);
    for (const [i, inj] of injected.entries()) {
      const cs = a.commitments(inj.ticketId).filter((c) => c.nodeSmallId === BigInt(env.smallId));
      expect(cs).toHaveLength(1);
      const job = (await rpc(env, "job", { ticket_id: inj.ticketId })).jobs[0];
      expect(job.state).toBe("committed");
      expect(cs[0]!.root).toBe(independentCommitment(job.output, 1, 0).root);
      expect(job.output).toBe(await cleanText("vllm", prompts[i]!.prompt, chainParams(24, 100 + i)));
      expect(job.output_tokens).toBe(job.output.trim().split(/\s+/).length);
    }
    const log = node.log();
    expect(log).toContain("retrying");
    expect(log).toMatch(/upstream http:\/\/127\.0\.0\.1:\d+ taken out/);
    // Start-up said what vLLM cannot honour; the api key never printed.
    expect(log).toContain("cannot honour repeat_last_n");
    expect(log).not.toContain("remote-secret-key-0123");
  });
});

describe("a misbehaving llama.cpp upstream", () => {
  let env: Env;
  let node: NodeProc;
  let up: FakeUpstream;

  beforeAll(async () => {
    up = await startUpstream({ kind: "llamacpp", model: MODEL, tokenDelayMs: 5 });
    env = await makeEnv({ modelDir: "", modelsToml: remoteToml("llamacpp", [up.url], "retries = 1"), maxConcurrent: 1 });
    node = await spawnNode(env);
  });

  afterAll(async () => {
    if (node && node.proc.exitCode === null) node.proc.kill("SIGKILL");
    await up?.stop();
    await env?.server.stop();
    if (env) rmSync(env.dir, { recursive: true, force: true });
  });

  test("garbage, a stall, a close mid-stream: each job fails with the reason; the node keeps serving", async () => {
    const a = env.server.admin;
    const job = async (t: string) => (await rpc(env, "job", { ticket_id: t }))?.jobs[0];
    for (const [fault, words] of [["garbage", "invalid JSON in the stream"], ["stall", "stalled"], ["close", "stream broken"], ["http500", "HTTP 500"]] as const) {
      up.fault = fault;
      const p = a.injectPrompt({ prompt: `fault ${fault}`, model: MODEL, nodes: [env.smallId], maxTokens: 16, seed: 7 });
      const j = await waitFor(`${fault} job to fail`, async () => ((await job(p.ticketId))?.state === "failed" ? job(p.ticketId) : null), 30_000);
      expect(j.error).toContain("model error:");
      expect(j.error).toContain(words);
      expect(j.error).not.toContain("remote-secret-key-0123");
      expect(a.commitments(p.ticketId)).toEqual([]);
    }
    up.fault = "none";
    await Bun.sleep(300); // the health check brings the upstream back
    const ok = a.injectPrompt({ prompt: "after the faults", model: MODEL, nodes: [env.smallId], maxTokens: 16, seed: 8 });
    await waitFor("commitment after faults", () => a.commitments(ok.ticketId).length > 0, 30_000);
    expect((await job(ok.ticketId)).output).toBe(await cleanText("llamacpp", "after the faults", chainParams(16, 8, 0)));
    expect(node.proc.exitCode).toBeNull();
    expect(node.log()).toContain("cannot honour the upper 32 bits of the seed");
  });
});
