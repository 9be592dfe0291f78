/** Temp-dir TOML fixtures for the config tests. */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A temp dir for one test file, removed after that file's tests. Call at the top level of each
 * test file (helpers are evaluated once per `bun test` run, so the dir cannot live here).
 */
export function fixtures(): { dir: string; tomlFile: (text: string, name?: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), "atoma-config-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return {
    dir,
    tomlFile(text, name) {
      const path = join(dir, name ?? `c${n++}.toml`);
      writeFileSync(path, text);
      return path;
    },
  };
}

export const PKG = "0x" + "a7".repeat(32);
export const DB = "0x" + "db".repeat(32);
export const BADGE = "0x" + "0b".repeat(32);

export const INFERENCE = `api_key = "hf_test_secret_key"
cache_dir = "/models"
flush_storage = false
jrpc_port = 3000
models = [[0, "f32", "llama_v2", false]]
tracing = false
`;

export const SUBSCRIBER = `http_url = "https://fullnode.testnet.sui.io:443"
ws_url = "wss://fullnode.testnet.sui.io:443"
package_id = "${PKG}"
small_id = 7

[request_timeout]
secs = 300
nanos = 0
`;

export const CLIENT = `config_path = "/etc/sui/client.yaml"
node_badge_id = "${BADGE}"
small_id = 7
package_id = "${PKG}"
atoma_db_id = "${DB}"
max_concurrent_requests = 4

[request_timeout]
secs = 60
nanos = 500000000
`;

/** Merged form built from the same three bodies (inline tables where a body has a sub-table). */
export function merged(parts: { inference?: string; subscriber?: string | null; client?: string | null; extra?: string } = {}): string {
  const sub = parts.subscriber === undefined ? SUBSCRIBER : parts.subscriber;
  const cli = parts.client === undefined ? CLIENT : parts.client;
  return [
    `[inference]\n${parts.inference ?? INFERENCE}`,
    sub === null ? "" : `[event_subscriber]\n${sub.replace("[request_timeout]", "[event_subscriber.request_timeout]")}`,
    cli === null ? "" : `[client]\n${cli.replace("[request_timeout]", "[client.request_timeout]")}`,
    parts.extra ?? "",
  ].join("\n");
}
