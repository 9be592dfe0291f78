/**
 * `atoma-node chat` as a user runs it (stdin/stdout of the real process): a local model and a
 * running node's API, history carried between turns, Ctrl-C (SIGINT) stopping an answer without
 * ending the program.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { NodeMetrics } from "../../src/log/metrics.ts";
import { createApi, serveApi, type RunningServer } from "../../src/api/server.ts";
import { renderChat } from "../../src/api/openai/chat-template.ts";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { TextEngine } from "../../src/engine/types.ts";
import { Semaphore } from "../../src/jobs/semaphore.ts";
import { ensureStories260k } from "../support/models.ts";

const ROOT = join(import.meta.dir, "../..");
let engine: TextEngine;
let dir: string;
let srv: RunningServer;

beforeAll(async () => {
  dir = await ensureStories260k();
  engine = await loadTextEngine({ id: "s", dir, device: "cpu", dtype: "f32" });
  srv = serveApi(createApi({ models: new Map([["s", { engine, lock: new Semaphore(1) }]]), store: undefined, metrics: new NodeMetrics(), timeoutMs: 30_000, nodeInfo: () => ({}), token: "tok" }), "127.0.0.1", 0);
});
afterAll(async () => {
  await srv?.stop();
  await engine?.dispose();
});

const greedy = (maxTokens: number) => ({ maxTokens, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 0n });

function spawnChat(args: string[]) {
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "chat", ...args], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  let out = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stdout) out += dec.decode(c);
  })();
  const waitFor = async (pred: (s: string) => boolean, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!pred(out)) {
      if (Date.now() > end) throw new Error(`timed out; output so far:\n${out}`);
      await Bun.sleep(10);
    }
  };
  return { proc, out: () => out, waitFor, send: (line: string) => proc.stdin.write(`${line}\n`) };
}

test("local model: two turns with history, answers equal the engine's greedy output for the rendered chat", async () => {
  const c = spawnChat(["--model", dir, "--temperature", "0", "--max-tokens", "12"]);
  await c.waitFor((s) => s.startsWith("> "));
  c.send("Once upon a time");
  const h1 = [{ role: "user", content: "Once upon a time" }];
  const a1 = (await engine.generate({ prompt: renderChat(engine.tokenizer, h1), params: greedy(12) })).text;
  await c.waitFor((s) => s.includes(`${a1}\n> `));
  c.send("Then what?");
  const h2 = [...h1, { role: "assistant", content: a1 }, { role: "user", content: "Then what?" }];
  const a2 = (await engine.generate({ prompt: renderChat(engine.tokenizer, h2), params: greedy(12) })).text;
  await c.waitFor((s) => s.endsWith(`${a2}\n> `));
  c.send("/exit");
  expect(await c.proc.exited).toBe(0);
  expect(c.out()).toBe(`> ${a1}\n> ${a2}\n> `);
});

test("against a running node (--url, bearer token): Ctrl-C stops the answer, the program goes on", async () => {
  const c = spawnChat(["--url", srv.url, "--token", "tok", "--model", "s", "--temperature", "1", "--seed", "1", "--max-tokens", "400"]);
  await c.waitFor((s) => s.startsWith("> "));
  c.send("Tell me a long story");
  await c.waitFor((s) => s.length > 8);
  c.proc.kill("SIGINT");
  await c.waitFor((s) => s.includes("(stopped)\n> "));
  expect(c.proc.exitCode).toBeNull();
  c.send("/reset");
  await c.waitFor((s) => s.includes("(history cleared)\n> "));
  c.send("Hi");
  await c.waitFor((s) => /\(history cleared\)\n> .+\n> $/s.test(s));
  c.proc.stdin.end(); // Ctrl-D
  expect(await c.proc.exited).toBe(0);
});

test("bad flags: one line, exit 2", async () => {
  const p = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "chat", "--model", dir, "--max-tokens", "many"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(await p.exited).toBe(2);
  expect((await new Response(p.stderr).text()).trim()).toBe('error: --max-tokens "many": expected an integer');
});
