/**
 * Starts the local Sui test server by hand, for trying the node without a Sui network:
 *
 *   bun test/support/sui-server.ts --port 9124 --out ./.sui-local [--state ./.sui-local/chain.json] [--small-id 1] [--nodes 1]
 *
 * Prints the URL and object ids, and with `--out` writes a Sui CLI `client.yaml` + `sui.keystore`
 * for a fresh node key, plus `atoma-node.toml` sections pointing at this server. Admin endpoints
 * (JSON) are under <url>/admin/ — see the README, "Local Sui test server".
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { decodeSuiPrivateKey } from "@mysten/sui/cryptography";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { fromBase64, toBase64 } from "@mysten/sui/utils";
import { startSuiServer } from "./sui-server/index.ts";

function fail(message: string): never {
  console.error(`sui-server: ${message}`);
  process.exit(2);
}

function parse() {
  return parseArgs({
    options: {
      port: { type: "string", default: "9124" },
      out: { type: "string" },
      "small-id": { type: "string", default: "1" },
      nodes: { type: "string", default: "1" },
      seed: { type: "string", default: "atoma" },
      state: { type: "string" },
      "checkpoint-ms": { type: "string", default: "0" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
}
let args: ReturnType<typeof parse>;
try {
  args = parse();
} catch (e) {
  fail(`${(e as Error).message} (see --help)`);
}
if (args.help) {
  console.log("usage: bun test/support/sui-server.ts [--port 9124] [--out DIR] [--state FILE] [--checkpoint-ms 0] [--small-id 1] [--nodes 1] [--seed atoma]");
  process.exit(0);
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: expected 0..65535, got ${args.port}`);
const firstSmallId = Number(args["small-id"]);
const count = Number(args.nodes);
if (!Number.isInteger(firstSmallId) || firstSmallId < 1) fail(`--small-id: expected a positive integer, got ${args["small-id"]}`);
if (!Number.isInteger(count) || count < 1 || count > 64) fail(`--nodes: expected 1..64, got ${args.nodes}`);

/** Reuses the key already written to `--out` so a restarted server keeps the node's badge and coins. */
function keyFor(i: number): Ed25519Keypair {
  if (args.out) {
    const file = join(resolve(args.out), count === 1 ? "" : `node-${firstSmallId + i}`, "sui.keystore");
    if (existsSync(file)) {
      try {
        const raw = fromBase64((JSON.parse(readFileSync(file, "utf8")) as string[])[0]!);
        return Ed25519Keypair.fromSecretKey(raw.slice(1));
      } catch {
        fail(`${file}: not a keystore written by this tool; remove it or choose another --out`);
      }
    }
  }
  return new Ed25519Keypair();
}
const tick = Number(args["checkpoint-ms"]);
if (!Number.isInteger(tick) || tick < 0) fail(`--checkpoint-ms: expected a non-negative integer, got ${args["checkpoint-ms"]}`);
const keys = Array.from({ length: count }, (_, i) => keyFor(i));
const server = await startSuiServer({
  port,
  seed: args.seed,
  nodes: keys.map((k, i) => ({ address: k.toSuiAddress(), smallId: firstSmallId + i })),
  statePath: args.state ? resolve(args.state) : undefined,
  checkpointIntervalMs: tick,
}).catch((e) => fail((e as Error).message));
const info = server.admin.info();

if (args.out) {
  const dir = resolve(args.out);
  mkdirSync(dir, { recursive: true });
  keys.forEach((kp, i) => {
    const sub = count === 1 ? dir : join(dir, `node-${firstSmallId + i}`);
    mkdirSync(sub, { recursive: true });
    const { secretKey } = decodeSuiPrivateKey(kp.getSecretKey());
    // Sui CLI keystore entry: base64(flag 0x00 Ed25519 ‖ 32-byte secret).
    writeFileSync(join(sub, "sui.keystore"), JSON.stringify([toBase64(Uint8Array.from([0, ...secretKey]))], null, 2), { mode: 0o600 });
    writeFileSync(
      join(sub, "client.yaml"),
      `keystore:\n  File: ${join(sub, "sui.keystore")}\nenvs:\n  - alias: local\n    rpc: "${server.url}"\n    ws: ~\n    basic_auth: ~\nactive_env: local\nactive_address: "${kp.toSuiAddress()}"\n`,
    );
    const node = info.nodes[i]!;
    writeFileSync(
      join(sub, "sui-sections.toml"),
      `# Paste into your atoma-node config (or use with --config after adding [inference]).\n[event_subscriber]\nhttp_url = "${server.url}"\nnetwork = "localnet"\npackage_id = "${info.packageId}"\nsmall_id = ${node.smallId}\nrequest_timeout = { secs = 30, nanos = 0 }\nstart_checkpoint = 0\n\n[client]\nconfig_path = "${join(sub, "client.yaml")}"\nnode_badge_id = "${node.badgeId}"\nsmall_id = ${node.smallId}\npackage_id = "${info.packageId}"\natoma_db_id = "${info.atomaDbId}"\nmax_concurrent_requests = 4\nrequest_timeout = { secs = 30, nanos = 0 }\n`,
    );
  });
}

const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x), 2);
console.log(`Sui test server listening on ${server.url}`);
console.log(show(info));
if (args.out) console.log(`wrote client.yaml, sui.keystore and sui-sections.toml to ${resolve(args.out)}`);
// "model" must be one the node hosts (the default, llama_tiny_llama_1_1b_chat, makes a not_servable job).
console.log(`inject a prompt: curl -s ${server.url}/admin/prompt -d '{"nodes":[${firstSmallId}],"model":"stories260k","prompt":"Tell me a joke","max_tokens":32}'`);

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    void server.stop().then(() => process.exit(0));
  });
}
