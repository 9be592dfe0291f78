/**
 * Issue 8, defects 1–2 as an attacker would hit them on chain and over JSON-RPC: prompts whose bytes and
 * `output_destination` are MessagePack size bombs (`dd 07 ff ff ff`, anyone who pays for a prompt
 * controls them) and an 83-byte prompt event whose BCS claims 2^27−1 `pre_prompt_tokens`, through
 * the local Sui test server into `atoma-node run`. Before the fix 10 such prompts took the node to
 * 7.5 GB and every `jobs` listing re-decoded them. The node's peak RSS (VmHWM) is read from /proc.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { bcsVectorBomb } from "../support/hostile-probe-bytes.ts";
import { ensureStories260k } from "../support/models.ts";
import { type Env, MODEL, makeEnv, type NodeProc, rpc, spawnNode, waitFor } from "./harness.ts";

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

/** Peak and current resident set of the node process, KiB (Linux /proc). */
function memKiB(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  return { peak: field("VmHWM"), now: field("VmRSS") };
}

describe("hostile prompt bytes on chain", () => {
  test("10 MessagePack-bomb prompts and a BCS-bomb event: peak RSS stays a few MB above baseline, listings stay cheap", async () => {
    const a = env.server.admin;
    const mine = () => a.commitments().filter((c) => c.nodeSmallId === BigInt(env.smallId));
    // Warm up: one ordinary job through generation, commitment and a listing, then take the baseline.
    a.injectPrompt({ prompt: "Once upon a time", model: MODEL, nodes: [env.smallId], maxTokens: 4 });
    await waitFor("warm-up commitment", () => mine().length === 1);
    await rpc(env, "jobs", { limit: 1000 });
    const base = memKiB(node.proc.pid);

    const bomb = "0xdd07ffffff";
    const injected = a.injectPrompts(Array.from({ length: 10 }, () => ({ promptBytes: bomb, outputDestination: bomb, model: MODEL, nodes: [env.smallId], maxTokens: 4 })));
    a.injectEvents([{ type: "gate::Text2TextPromptEvent", bcs: bcsVectorBomb() }]);
    await waitFor("10 bomb-prompt commitments", () => mine().length === 11, 90_000);

    for (let i = 0; i < 20; i++) {
      const jobs = await rpc(env, "jobs", { limit: 1000 });
      expect(jobs).toHaveLength(11);
      expect((await fetch(`${env.url}/health`)).status).toBe(200);
    }
    const job = (await rpc(env, "job", { ticket_id: injected[0]!.ticketId })).jobs[0];
    // Not MessagePack → legacy text with U+FFFD replacement (spec §6.3); no destination to publish to.
    expect(job).toMatchObject({ state: "committed", prompt: "\uFFFD\u0007\uFFFD\uFFFD\uFFFD", output_destination: null });

    // The same 5 bytes over JSON-RPC: a 2 KB batch of 20 `"prompt":[221,7,255,255,255]` generations.
    const batch = Array.from({ length: 20 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "generate", params: { prompt: [221, 7, 255, 255, 255], max_tokens: 1 } }));
    const answers = (await (await fetch(env.url, { method: "POST", body: JSON.stringify(batch) })).json()) as { result?: { output_tokens: number } }[];
    expect(answers.map((r) => r.result?.output_tokens)).toEqual(Array(20).fill(1));

    const after = memKiB(node.proc.pid);
    console.log(`node RSS KiB: baseline peak ${base.peak} now ${base.now}; after peak ${after.peak} now ${after.now}`);
    expect(after.peak - base.peak).toBeLessThan(16 * 1024);
    expect(node.log()).toContain("malformed Text2TextPromptEvent (bcs)");
    expect(node.log()).toContain("vector<u32> claims 134217727 elements");
  }, 150_000);
});
