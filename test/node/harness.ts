/**
 * End-to-end harness: the local Sui test server in this process, a real node key (client.yaml +
 * keystore), a real single-file config, and `atoma-node run` as a separate process.
 */
import { decodeSuiPrivateKey } from "@mysten/sui/cryptography";
import { blake2b } from "@noble/hashes/blake2.js";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { toBase64 } from "@mysten/sui/utils";
import type { Subprocess } from "bun";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startSuiServer, type SuiServer } from "../support/sui-server/index.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const MODEL = "stories260k";

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface Env {
  dir: string;
  server: SuiServer;
  key: Ed25519Keypair;
  smallId: number;
  configPath: string;
  port: number;
  url: string;
  dataDir: string;
}

export interface EnvOptions {
  modelDir: string;
  /** `[[inference.models]]` TOML replacing the local stories260k entry (remote engines). */
  modelsToml?: string;
  maxConcurrent?: number;
  smallId?: number;
  webhookUrl?: string;
  maxBatchSize?: number;
  extraNodes?: { address: string; smallId: number }[];
  /** First checkpoint the node follows (default 0: the whole test chain). */
  startCheckpoint?: number;
}

export async function makeEnv(o: EnvOptions): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), "atoma-e2e-"));
  const smallId = o.smallId ?? 1;
  const key = new Ed25519Keypair();
  const server = await startSuiServer({ nodes: [{ address: key.toSuiAddress(), smallId }, ...(o.extraNodes ?? [])] });
  const info = server.admin.info();
  const badge = info.nodes.find((n) => Number(n.smallId) === smallId)!.badgeId;
  const sui = join(dir, "sui");
  mkdirSync(sui);
  const { secretKey } = decodeSuiPrivateKey(key.getSecretKey());
  writeFileSync(join(sui, "sui.keystore"), JSON.stringify([toBase64(Uint8Array.from([0, ...secretKey]))]));
  writeFileSync(
    join(sui, "client.yaml"),
    `keystore:\n  File: ${join(sui, "sui.keystore")}\nenvs:\n  - alias: local\n    rpc: "${server.url}"\n    ws: ~\n    basic_auth: ~\nactive_env: local\nactive_address: "${key.toSuiAddress()}"\n`,
  );
  const port = await freePort();
  const dataDir = join(dir, "state");
  const configPath = join(dir, "atoma-node.toml");
  writeFileSync(
    configPath,
    `[inference]
cache_dir = "${join(dir, "models")}"
jrpc_port = ${port}
jrpc_host = "127.0.0.1"

${o.modelsToml ?? `[[inference.models]]
model_id = "${MODEL}"
path = "${o.modelDir}"
device = "cpu"
dtype = "f32"
`}
[event_subscriber]
http_url = "${server.url}"
network = "localnet"
package_id = "${info.packageId}"
small_id = ${smallId}
request_timeout = { secs = 30, nanos = 0 }
start_checkpoint = ${o.startCheckpoint ?? 0}

[client]
config_path = "${join(sui, "client.yaml")}"
node_badge_id = "${badge}"
small_id = ${smallId}
package_id = "${info.packageId}"
atoma_db_id = "${info.atomaDbId}"
max_concurrent_requests = ${o.maxConcurrent ?? 4}
request_timeout = { secs = 30, nanos = 0 }
max_batch_size = ${o.maxBatchSize ?? 8}

[node]
data_dir = "${dataDir}"
shutdown_timeout_ms = 5000
${o.webhookUrl ? `webhook_url = "${o.webhookUrl}"` : ""}
`,
  );
  return { dir, server, key, smallId, configPath, port, url: `http://127.0.0.1:${port}`, dataDir };
}

export interface NodeProc {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  log: () => string;
}

/** Starts `atoma-node run --config …` and waits until its HTTP server answers. */
export async function spawnNode(env: Env, extraEnv: Record<string, string> = {}): Promise<NodeProc> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "run", "--config", env.configPath], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    env: { ...process.env, ATOMA_LOG: "info", ...extraEnv },
  });
  let out = "";
  const drain = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out += dec.decode(chunk);
  };
  void drain(proc.stdout);
  void drain(proc.stderr);
  const node = { proc, log: () => out };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`node exited with ${proc.exitCode}:\n${out}`);
    try {
      if ((await fetch(`${env.url}/health`)).ok) return node;
    } catch {
      /* not listening yet */
    }
    await Bun.sleep(50);
  }
  proc.kill("SIGKILL");
  throw new Error(`node did not start in 30 s:\n${out}`);
}

export async function rpc(env: Env, method: string, params?: unknown): Promise<any> {
  const res = await fetch(env.url, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** leaf_j = H(data ‖ u64_le(j)), root = H(leaf_0 ‖ … ‖ leaf_{n-1}), H = BLAKE2b with a 32-byte digest
 * (spec §8.2). Written here from the spec with @noble/hashes directly, independent of
 * src/commitment, so the e2e tests check the node against the spec rather than against itself. */
export function independentCommitment(text: string, n: number, index: number): { root: string; leaf: string } {
  const data = Buffer.from(text, "utf8");
  const leaves = Array.from({ length: n }, (_, j) => {
    const idx = Buffer.alloc(8);
    idx.writeBigUInt64LE(BigInt(j));
    return Buffer.from(blake2b(Buffer.concat([data, idx]), { dkLen: 32 }));
  });
  return { root: Buffer.from(blake2b(Buffer.concat(leaves), { dkLen: 32 })).toString("hex"), leaf: leaves[index]!.toString("hex") };
}
