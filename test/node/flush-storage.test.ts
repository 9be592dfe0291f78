/** `flush_storage = true`: on a graceful stop the node removes what it downloaded into cache_dir,
 * and nothing else (the hub cache is shared with other tools; operator folders stay). */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { recordCreated } from "../../src/models/downloads.ts";
import { startNode } from "../../src/node.ts";
import { freePort } from "./harness.ts";

const dir = mkdtempSync(join(tmpdir(), "atoma-flush-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runAndStop(flush: boolean): Promise<{ cache: string; downloaded: string }> {
  const cache = join(dir, `cache-${flush}`);
  mkdirSync(join(cache, "some-model"), { recursive: true });
  writeFileSync(join(cache, "some-model", "config.json"), "{}");
  const downloaded = join(cache, "models--org--name", "blobs", "0123");
  mkdirSync(join(cache, "models--org--name", "blobs"), { recursive: true });
  writeFileSync(downloaded, "bytes");
  recordCreated(cache, "blob", downloaded);
  const file = join(dir, `node-${flush}.toml`);
  writeFileSync(
    file,
    `[inference]\ncache_dir = "${cache}"\nflush_storage = ${flush}\njrpc_port = ${await freePort()}\nmodels = []\n[node]\ndata_dir = "${join(dir, "state")}"\n`,
  );
  const node = await startNode(loadConfig({ config: file }, { env: {} }));
  await node.stop("test");
  await node.done;
  return { cache, downloaded };
}

test("flush_storage = true removes the node's downloads (and the folders they leave empty), keeps the rest", async () => {
  const { cache, downloaded } = await runAndStop(true);
  expect(existsSync(downloaded)).toBe(false);
  expect(existsSync(join(cache, "models--org--name"))).toBe(false);
  expect(existsSync(join(cache, "some-model", "config.json"))).toBe(true);
});

test("flush_storage = false keeps everything", async () => {
  const { cache, downloaded } = await runAndStop(false);
  expect(existsSync(downloaded)).toBe(true);
  expect(existsSync(join(cache, "some-model", "config.json"))).toBe(true);
});
