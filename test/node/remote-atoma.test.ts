/**
 * The `atoma` kind against a real OpenAI-compatible server: a second `atoma-node run` in local mode
 * serving stories260K, behind a chain node that has no model of its own. Same engine, same params,
 * same seed ⇒ the committed text is byte-identical to a local generation. The chain node's own
 * /v1/completions streams the remote model's pieces through (SSE in, SSE out).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { TextEngine } from "../../src/engine/types.ts";
import { ensureStories260k } from "../support/models.ts";
import { type Env, MODEL, ROOT, freePort, independentCommitment, makeEnv, type NodeProc, rpc, spawnNode, waitFor } from "./harness.ts";

let env: Env;
let node: NodeProc;
let upstream: Subprocess<"ignore", "pipe", "pipe">;
let upstreamUrl: string;
let engine: TextEngine;
let modelDir: string;

beforeAll(async () => {
  modelDir = await ensureStories260k();
  engine = await loadTextEngine({ id: MODEL, dir: modelDir, device: "cpu", dtype: "f32" });
  env = await makeEnv({
    modelDir: "",
    modelsToml: `[[inference.models]]
model_id = "${MODEL}"
engine = "atoma"
url = "__UPSTREAM__"
tokenizer = "${modelDir}"
max_concurrent = 2
`,
  });
  // The upstream: atoma-node in local mode (its own config, port and state).
  const port = await freePort();
  upstreamUrl = `http://127.0.0.1:${port}`;
  const cfg = join(env.dir, "upstream.toml");
  writeFileSync(cfg, `[inference]\ncache_dir = "${join(env.dir, "up-cache")}"\njrpc_port = ${port}\n\n[[inference.models]]\nmodel_id = "${MODEL}"\npath = "${modelDir}"\ndevice = "cpu"\ndtype = "f32"\n\n[node]\ndata_dir = "${join(env.dir, "up-state")}"\n`);
  upstream = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "run", "--config", cfg], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const deadline = Date.now() + 30_000;
  while (!(await fetch(`${upstreamUrl}/health`).then((r) => r.ok).catch(() => false))) {
    if (Date.now() > deadline || upstream.exitCode !== null) throw new Error(await new Response(upstream.stderr).text());
    await Bun.sleep(50);
  }
  const { readFileSync } = await import("node:fs");
  writeFileSync(env.configPath, readFileSync(env.configPath, "utf8").replace("__UPSTREAM__", upstreamUrl));
  node = await spawnNode(env);
});

afterAll(async () => {
  if (node && node.proc.exitCode === null) node.proc.kill("SIGKILL");
  if (upstream && upstream.exitCode === null) upstream.kill("SIGKILL");
  await engine?.dispose();
  await env?.server.stop();
  if (env) rmSync(env.dir, { recursive: true, force: true });
});

describe("atoma kind: another atoma-node as the engine", () => {
  test("chain jobs: committed text and token counts identical to a local generation with the same params and seed", async () => {
    const a = env.server.admin;
    const prompts = [
      { prompt: "Once upon a time", model: MODEL, nodes: [env.smallId], maxTokens: 24, temperature: 0, seed: 1 },
      { prompt: "The little dog", model: MODEL, nodes: [env.smallId], maxTokens: 20, temperature: 0.8, topK: 40, topP: 0.9, seed: "18446744073709551615" },
      { prompt: "Tom had a ball", model: MODEL, nodes: [env.smallId], maxTokens: 10, repeatPenalty: 1.3, repeatLastN: 8, seed: 9, prependOutputWithInput: true },
      { prompt: "Lily and Ben", model: MODEL, nodes: [env.smallId], maxTokens: 16, temperature: 0.5, seed: 42 },
      // A seed beyond 2^53 (JSON numbers cannot carry it) still reaches the upstream exactly.
      { prompt: "One day", model: MODEL, nodes: [env.smallId], maxTokens: 16, temperature: 1, seed: "12345678901234567891" },
    ];
    const injected = a.injectPrompts(prompts);
    const ours = () => a.commitments().filter((c) => c.nodeSmallId === BigInt(env.smallId));
    await waitFor("5 commitments", () => ours().length >= injected.length, 60_000);
    for (const [i, inj] of injected.entries()) {
      const job = (await rpc(env, "job", { ticket_id: inj.ticketId })).jobs[0];
      expect(job.state).toBe("committed");
      const [c] = a.commitments(inj.ticketId);
      expect(c!.root).toBe(independentCommitment(job.output, 1, 0).root);
      const p = prompts[i]!;
      const direct = await engine.generate({
        prompt: p.prompt,
        params: {
          maxTokens: p.maxTokens, temperature: Math.fround(p.temperature ?? 0), topK: p.topK ?? 40, topP: Math.fround(p.topP ?? 0.9),
          repeatPenalty: Math.fround(p.repeatPenalty ?? 1.1), repeatLastN: p.repeatLastN ?? 64, seed: BigInt(p.seed),
        },
        prePromptTokens: [],
      });
      expect(job.output).toBe(direct.text);
      expect([job.input_tokens, job.output_tokens]).toEqual([direct.inputTokens, direct.outputTokens]);
      // Chain jobs go over the upstream's JSON-RPC generate: the real token ids come back.
      if (p.prependOutputWithInput) expect(job.tokens).toEqual(direct.tokens);
    }
    expect(node.log()).not.toContain("differ from the local tokenizer");
    // Nothing the atoma kind cannot honour: no start-up warning about parameters.
    expect(node.log()).not.toContain("cannot honour");
  });

  test("the chain node's /v1/completions streams the remote model through (SSE in, SSE out)", async () => {
    const res = await fetch(`${env.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: "Once upon a time", max_tokens: 16, temperature: 0, seed: 5, stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const body = await res.text();
    if (!body.includes('"choices"')) throw new Error(body);
    const events = body.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const text = chunks.map((c) => c.choices[0]?.text ?? "").join("");
    expect(chunks.filter((c) => (c.choices[0]?.text ?? "") !== "").length).toBeGreaterThan(1);
    expect(text).toBe(", there was a little girl named Lily. She loved to play");
    expect(chunks.at(-1).usage).toMatchObject({ completion_tokens: 16 });
    // Unseeded: the API draws a random u64 seed, which goes over JSON-RPC (one piece), still served.
    const r2 = await fetch(`${env.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: MODEL, prompt: "Once upon a time", max_tokens: 8, temperature: 0, stream: true }) });
    const t2 = (await r2.text()).split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)).choices[0]?.text ?? "").join("");
    expect(t2).toBe(", there was a little girl");
  });

  test("doctor checks the upstream: reachable, serves the model, version", async () => {
    const p = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "doctor", "--json", "--config", env.configPath], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    await p.exited;
    const r = JSON.parse(out);
    const check = JSON.stringify(r);
    expect(check).toContain(upstreamUrl);
    expect(check).toContain(`reachable, serves ${MODEL}, version`);
  });
});
