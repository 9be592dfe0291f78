/**
 * The node end to end: `atoma-node run` as its own process against the local Sui test server and the
 * trained stories260K model. Every commitment the server accepted is recomputed here from the output
 * text with a direct BLAKE2b-256 call (not the node's merkle module), and the text itself is
 * re-generated with the engine in this process.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { loadTextEngine } from "../../src/engine/engine.ts";
import type { TextEngine } from "../../src/engine/types.ts";
import { ensureStories260k } from "../support/models.ts";
import { type Env, MODEL, makeEnv, type NodeProc, rpc, spawnNode, waitFor, independentCommitment } from "./harness.ts";

let env: Env;
let node: NodeProc;
let engine: TextEngine;
const hooks: { body: any }[] = [];
let hook: ReturnType<typeof Bun.serve>;
let hookCalls = 0;


beforeAll(async () => {
  const modelDir = await ensureStories260k();
  engine = await loadTextEngine({ id: MODEL, dir: modelDir, device: "cpu", dtype: "f32" });
  hook = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (req) => {
      // The first delivery fails: the publisher must retry.
      if (hookCalls++ === 0) return new Response("busy", { status: 503 });
      hooks.push({ body: await req.json() });
      return new Response("ok");
    },
  });
  env = await makeEnv({ modelDir, webhookUrl: `http://127.0.0.1:${hook.port}/out`, extraNodes: [{ address: "0x" + "5".repeat(64), smallId: 5 }] });
  node = await spawnNode(env);
});

afterAll(async () => {
  if (node && node.proc.exitCode === null) node.proc.kill("SIGKILL");
  await engine?.dispose();
  await env?.server.stop();
  hook?.stop(true);
  if (env) rmSync(env.dir, { recursive: true, force: true });
});

const me = () => BigInt(env.smallId);
/** The node's record of a job once it says committed (or its last state, which then fails the test's expectation). */
async function committedJob(ticket: string) {
  const get = async () => (await rpc(env, "job", { ticket_id: ticket })).jobs[0];
  return (await waitFor(`job ${ticket} committed`, async () => ((await get())?.state === "committed" ? get() : undefined), 10_000).catch(get));
}

describe("node end to end", () => {
  test("prompts → generation → commitments the chain accepts, recomputable from the outputs", async () => {
    const a = env.server.admin;
    const prompts = [
      { prompt: "Once upon a time", model: MODEL, nodes: [env.smallId], maxTokens: 24, temperature: 0, seed: 1 },
      { prompt: "The little dog", model: MODEL, nodes: [env.smallId], maxTokens: 20, temperature: 0.8, topK: 40, topP: 0.9, seed: "18446744073709551615" },
      { prompt: "Lily and Ben", model: MODEL, nodes: [5, env.smallId], maxTokens: 16, temperature: 0.5, seed: 42 }, // index 1 of 2
      { prompt: "One day", model: MODEL, nodes: [env.smallId], chunksCount: 4, maxTokens: 12, seed: 3 }, // cross-validation: n = nodes.length = 1 (default policy)
      { prompt: "Tom had a ball", model: MODEL, nodes: [env.smallId], maxTokens: 10, repeatPenalty: 1.3, repeatLastN: 8, seed: 9, prependOutputWithInput: true },
      { promptBytes: "0x81a352617791aa4f6e6365207468657265", model: MODEL, nodes: [env.smallId], maxTokens: 8, seed: 4 }, // MessagePack InputSource::Raw "Once there"
    ];
    const injected = a.injectPrompts(prompts);
    // Not for this node / not servable / invalid: recorded, never fatal.
    const other = a.injectPrompt({ prompt: "not mine", model: MODEL, nodes: [5] });
    const unknownModel = a.injectPrompt({ prompt: "x", model: "llama3_70b", nodes: [env.smallId] });
    const empty = a.injectPrompt({ prompt: "", model: MODEL, nodes: [env.smallId] });
    const zero = a.injectPrompt({ prompt: "hi", model: MODEL, nodes: [env.smallId], maxTokens: 0 });

    const ours = () => a.commitments().filter((c) => c.nodeSmallId === me());
    await waitFor("6 commitments", () => ours().length >= injected.length, 60_000);
    expect(ours()).toHaveLength(injected.length);

    for (const [i, inj] of injected.entries()) {
      const [c] = a.commitments(inj.ticketId).filter((x) => x.nodeSmallId === me());
      expect(c).toBeDefined();
      // The test server records a commitment when it executes the transaction; the node marks the
      // job committed when the answer reaches it, a moment later.
      const job = await committedJob(inj.ticketId);
      expect(job.state).toBe("committed");
      const n = i === 2 ? 2 : 1;
      const index = i === 2 ? 1 : 0;
      expect([job.num_leaves, job.leaf_index, c!.order]).toEqual([n, index, index]);
      const want = independentCommitment(job.output, n, index);
      expect(c!.root).toBe(want.root);
      expect(c!.leaf).toBe(want.leaf);
      expect(c!.outputTokens).toBe(BigInt(job.output_tokens));
      expect(c!.inputTokens).toBe(BigInt(job.input_tokens));
      expect(c!.first).toBe(true);
      expect(job.tx_digest).toBe(c!.txDigest);
      // The text is what the model produces for those params (determinism across processes);
      // defaults are the test server's (top_k 40, top_p 0.9, repeat_penalty 1.1).
      const p = prompts[i]!;
      const direct = await engine.generate({
        prompt: i === 5 ? "Once there" : p.prompt!,
        params: {
          maxTokens: p.maxTokens, temperature: Math.fround(p.temperature ?? 0), topK: p.topK ?? 40, topP: Math.fround(p.topP ?? 0.9),
          repeatPenalty: Math.fround(p.repeatPenalty ?? 1.1), repeatLastN: p.repeatLastN ?? 64, seed: BigInt(p.seed),
        },
        prePromptTokens: [],
      });
      expect(job.output).toBe(direct.text);
      if (i === 4) expect(job.tokens).toEqual(direct.tokens);
      if (i === 5) expect(job.prompt).toBe("Once there");
    }

    expect(a.commitments(other.ticketId)).toEqual([]);
    const states = async (t: string) => (await rpc(env, "job", { ticket_id: t }))?.jobs[0];
    expect(await states(other.ticketId)).toBeUndefined();
    expect(await states(unknownModel.ticketId)).toMatchObject({ state: "not_servable" });
    expect((await states(unknownModel.ticketId)).error).toContain('"llama3_70b" is not hosted by this node');
    await waitFor("validation failures", async () => (await states(zero.ticketId))?.state === "failed" && (await states(empty.ticketId))?.state === "failed");
    expect((await states(empty.ticketId)).error).toBe("prompt is empty");
    expect((await states(zero.ticketId)).error).toContain("max_tokens is 0");
  });

  test("NewlySampledNodesEvent: the original prompt is served at leaf index = order", async () => {
    const a = env.server.admin;
    // A timeout replacement: the node replaces ticket.all[2] (spec §5.2).
    const p = a.injectPrompt({ prompt: "A big tree", model: MODEL, nodes: [5, 6, 7], maxTokens: 10, seed: 11 });
    a.injectNewlySampled(p.ticketId, [{ nodeId: env.smallId, order: 2 }]);
    const c = await waitFor("resampled commitment", () => a.commitments(p.ticketId).find((x) => x.nodeSmallId === me()));
    const job = (await rpc(env, "job", { ticket_id: p.ticketId })).jobs[0];
    expect([job.leaf_index, job.num_leaves, c.order]).toEqual([2, 3, 2]);
    expect(c.root).toBe(independentCommitment(job.output, 3, 2).root);
    expect(c.leaf).toBe(independentCommitment(job.output, 3, 2).leaf);
  });

  test("first submitter publishes: output by ticket over HTTP and webhook metadata (§8.6)", async () => {
    await waitFor("webhook deliveries", () => hooks.length >= 7);
    const body = hooks.find((h) => h.body.metadata.index_of_node === 1)!.body;
    const t = body.metadata.ticket_id;
    expect(t).toMatch(/^[0-9a-f]{64}$/);
    const http = await (await fetch(`${env.url}/v1/jobs/0x${t}`)).json() as any;
    const job = http.jobs[0];
    expect(body.data).toBe(job.output);
    expect(body.metadata).toMatchObject({
      node_public_key: env.key.toSuiAddress(),
      num_input_tokens: job.input_tokens,
      num_output_tokens: job.output_tokens,
      num_sampled_nodes: 2,
      index_of_node: 1,
      transaction_base_58: job.tx_digest,
      output_destination: "Firebase",
      output_type: "Text",
    });
    expect(Buffer.from(body.metadata.commitment_root_hash).toString("hex")).toBe(job.commitment_root);
    expect(Buffer.from(body.metadata.leaf_hash).toString("hex")).toBe(job.leaf_hash);
    expect(typeof body.metadata.time_to_generate).toBe("number");
    expect(job.published_at).not.toBeNull();
  });

  test("a prompt event encoded by hand (spec §4.2/§4.3 field order, no project schema) is served end to end", async () => {
    // BCS written byte by byte: u64 little-endian, ULEB128 lengths, f32 as its u32 bits.
    const bytes: number[] = [];
    const u64 = (v: bigint) => { for (let i = 0n; i < 8n; i++) bytes.push(Number((v >> (8n * i)) & 0xffn)); };
    const uleb = (n: number) => { do { bytes.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0)); n >>>= 7; } while (n > 0); };
    const vec = (b: Uint8Array) => (uleb(b.length), bytes.push(...b));
    const f32 = (v: number) => { const dv = new DataView(new ArrayBuffer(4)); dv.setFloat32(0, v, true); bytes.push(...new Uint8Array(dv.buffer)); };
    const ticket = `0x${"ab".repeat(31)}${(Date.now() % 256).toString(16).padStart(2, "0")}`;
    for (let i = 2; i < 66; i += 2) bytes.push(parseInt(ticket.slice(i, i + 2), 16)); // ticket_id: ID (32 bytes)
    u64(12n); // params.max_tokens
    vec(new TextEncoder().encode(MODEL)); // params.model: ascii::String
    uleb(0); // params.pre_prompt_tokens: vector<u32> = []
    bytes.push(0); // params.prepend_output_with_input = false
    vec(new TextEncoder().encode("Once upon a time")); // params.prompt
    u64(7n); // params.random_seed
    u64(64n); // params.repeat_last_n
    f32(1); // params.repeat_penalty
    bytes.push(0); // params.should_stream_output = false
    f32(0); // params.temperature: greedy
    u64(0n); // params.top_k
    f32(1); // params.top_p
    u64(1n); // chunks_count
    uleb(1), u64(BigInt(env.smallId)); // nodes: vector<SmallId>
    vec(Uint8Array.from([0xa8, ...new TextEncoder().encode("Firebase")])); // output_destination: MessagePack "Firebase"
    const a = env.server.admin;
    a.injectEvents([{ type: "gate::Text2TextPromptEvent", bcs: Uint8Array.from(bytes) }]);
    // The contract opened the ticket when it emitted the event; the raw injection only emits it.
    a.ledger.tickets.set(ticket, { ticketId: ticket, nodes: [BigInt(env.smallId)], chunksCount: 1n, committed: new Map(), disputed: false, settled: false });
    const c = await waitFor("commitment for the hand-encoded prompt", () => a.commitments(ticket).find((x) => x.nodeSmallId === me()));
    const job = await committedJob(ticket);
    const direct = await engine.generate({ prompt: "Once upon a time", params: { maxTokens: 12, temperature: 0, topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: 7n }, prePromptTokens: [] });
    expect({ state: job.state, prompt: job.prompt, output: job.output, outputTokens: job.output_tokens }).toEqual({ state: "committed", prompt: "Once upon a time", output: direct.text, outputTokens: 12 });
    expect(c.root).toBe(independentCommitment(direct.text, 1, 0).root);
  });

  test("metrics and node_info reflect the work; SIGTERM stops cleanly", async () => {
    const m = await (await fetch(`${env.url}/metrics`)).text();
    expect(m).toMatch(/atoma_jobs\{state="committed"\} (\d+)/);
    expect(m).toContain('atoma_jobs_not_servable_total 1');
    expect(m).toMatch(/atoma_commitments_total\{first_submission="true"\} \d+/);
    // The follower is live: the cursor is at (or within a checkpoint of) the test server's tip.
    const lag = Number(/atoma_chain_lag_checkpoints (\d+)/.exec(m)?.[1]);
    expect(lag).toBeLessThanOrEqual(1);
    expect(m).toMatch(/atoma_chain_cursor_checkpoint \d+/);
    const info = await rpc(env, "node_info");
    expect(info).toMatchObject({ mode: "chain", small_id: String(env.smallId), address: env.key.toSuiAddress(), models: [MODEL] });
    node.proc.kill("SIGTERM");
    expect(await node.proc.exited).toBe(0);
    expect(node.log()).toContain("node stopped");
  });
});
