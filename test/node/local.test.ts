/** Local mode: no Sui sections → `atoma-node run` serves its models over HTTP only, with a token. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureStories260k } from "../support/models.ts";
import { freePort, ROOT } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "atoma-local-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("local mode: generate over JSON-RPC, no store, SIGINT stops cleanly", async () => {
  const port = await freePort();
  const config = join(dir, "local.toml");
  writeFileSync(config, `[inference]\ncache_dir = "${dir}"\njrpc_port = ${port}\njrpc_token = "tok-123"\n\n[[inference.models]]\nmodel_id = "tiny"\npath = "${await ensureStories260k()}"\ndevice = "cpu"\ndtype = "f32"\n\n[node]\ndata_dir = "${join(dir, "state")}"\n`);
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "run", "--config", config], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  try {
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (!(await fetch(`${url}/health`).then((r) => r.ok).catch(() => false))) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(await new Response(proc.stderr).text());
      await Bun.sleep(50);
    }
    const call = async (method: string, params?: unknown) =>
      (await (await fetch(url, { method: "POST", headers: { authorization: "Bearer tok-123" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) })).json()) as any;
    const g = await call("generate", { prompt: "Once upon a time", max_tokens: 16, temperature: 0.8, random_seed: "5" });
    expect(g.result.output_tokens).toBe(16); // the story does not end within 16 tokens
    // Greedy: stories260K's known continuation (llama2.c's run.c at temperature 0).
    const greedy = await call("generate", { prompt: "Once upon a time", max_tokens: 16, temperature: 0 });
    expect({ text: greedy.result.text, output_tokens: greedy.result.output_tokens }).toEqual({ text: ", there was a little girl named Lily. She loved to play", output_tokens: 16 });
    expect((await call("generate", { prompt: "Once upon a time", max_tokens: 16, temperature: 0.8, random_seed: "5" })).result.text).toBe(g.result.text);
    expect((await call("node_info")).result).toMatchObject({ mode: "local", models: ["tiny"], cursor: null, jobs: null });
    expect((await call("jobs")).result).toEqual([]);
    expect((await fetch(url, { method: "POST", body: "{}" })).status).toBe(401);
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
    const err = await new Response(proc.stderr).text();
    expect(err).toContain("local mode");
    expect(err).not.toContain("tok-123");
  } finally {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  }
});
