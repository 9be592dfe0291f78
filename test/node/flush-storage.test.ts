/** `flush_storage = true` (seed semantics): the node deletes `cache_dir` when it stops gracefully. */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { startNode } from "../../src/node.ts";
import { freePort } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "atoma-flush-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runAndStop(flush: boolean): Promise<string> {
  const cache = join(dir, `cache-${flush}`);
  mkdirSync(join(cache, "some-model"), { recursive: true });
  writeFileSync(join(cache, "some-model", "config.json"), "{}");
  const file = join(dir, `node-${flush}.toml`);
  writeFileSync(
    file,
    `[inference]\ncache_dir = "${cache}"\nflush_storage = ${flush}\njrpc_port = ${await freePort()}\nmodels = []\n[node]\ndata_dir = "${join(dir, "state")}"\n`,
  );
  const node = await startNode(loadConfig({ config: file }, { env: {} }));
  await node.stop("test");
  await node.done;
  return cache;
}

test("flush_storage = true deletes cache_dir on a graceful stop", async () => {
  expect(existsSync(await runAndStop(true))).toBe(false);
});

test("flush_storage = false keeps cache_dir", async () => {
  expect(existsSync(join(await runAndStop(false), "some-model", "config.json"))).toBe(true);
});
