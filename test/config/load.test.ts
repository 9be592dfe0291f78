import { describe, expect, test } from "bun:test";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError } from "../../src/config/errors.ts";
import { DEFAULTS, loadConfig, networkFromUrl } from "../../src/config/load.ts";
import { redact, redactText } from "../../src/log/redact.ts";
import { BADGE, CLIENT, DB, fixtures, INFERENCE, merged, PKG, SUBSCRIBER } from "./helpers.ts";

const { dir: tempDir, tomlFile } = fixtures();

const noEnv = { env: {}, cwd: "/work/dir" };

function seed(inference = INFERENCE, subscriber = SUBSCRIBER, client = CLIENT) {
  return {
    modelConfigPath: tomlFile(inference),
    suiSubscriberPath: tomlFile(subscriber),
    atomaSuiClientConfigPath: tomlFile(client),
  };
}

describe("merged single file (--config)", () => {
  test("every seed field and every extension key", () => {
    const file = tomlFile(
      merged({
        inference: `${INFERENCE}jrpc_host = "0.0.0.0"\njrpc_token = "tok-secret-123"\n`,
        subscriber: `${SUBSCRIBER.replace("[request_timeout]", `event_package_id = "0x2"\nnetwork = "custom"\nstart_checkpoint = 1234\nleaf_count_policy = "nodes"\npoll_interval_ms = 250\nmode = "poll"\n[request_timeout]`)}`,
        client: CLIENT.replace("[request_timeout]", `gas_budget = 123456789\naddress = "0xabc"\nmax_batch_size = 16\n[request_timeout]`),
        extra: `[node]\ndata_dir = "state"\nwebhook_url = "https://hooks.example.com/out"\nshutdown_timeout_ms = 5000\n`,
      }),
    );
    const c = loadConfig({ config: file }, noEnv);
    expect(c.inference).toEqual({
      apiKey: "hf_test_secret_key",
      cacheDir: "/models",
      autoPull: true,
      flushStorage: false,
      jrpcPort: 3000,
      jrpcHost: "0.0.0.0",
      jrpcToken: "tok-secret-123",
      models: [
        { deviceIds: [0], dtype: "f32", modelId: "llama_v2", revision: "", useFlashAttention: false, device: "cpu", path: "/models/llama_v2", local: false, hub: { repo: "meta-llama/Llama-2-7b-hf", revision: "main" } },
      ],
      tracing: false,
      apiQueueSize: 16,
      apiRateLimit: 0,
    });
    expect(c.eventSubscriber).toEqual({
      httpUrl: "https://fullnode.testnet.sui.io:443",
      wsUrl: "wss://fullnode.testnet.sui.io:443",
      packageId: PKG,
      eventPackageId: "0x" + "0".repeat(63) + "2",
      smallId: 7n,
      requestTimeoutMs: 300_000,
      network: "custom",
      startCheckpoint: 1234n,
      leafCountPolicy: "nodes",
      pollIntervalMs: 250,
      mode: "poll",
    });
    expect(c.client).toEqual({
      configPath: "/etc/sui/client.yaml",
      nodeBadgeId: BADGE,
      smallId: 7n,
      packageId: PKG,
      atomaDbId: DB,
      maxConcurrentRequests: 4,
      requestTimeoutMs: 60_500,
      gasBudget: 123456789n,
      address: "0x" + "0".repeat(61) + "abc",
      maxBatchSize: 16,
    });
    expect(c.node).toEqual({ dataDir: "/work/dir/state", webhookUrl: "https://hooks.example.com/out", shutdownTimeoutMs: 5000, httpTimeoutMs: 30_000, httpMaxConnections: 256, imageRetentionHours: 24 });
    expect(c.sources).toEqual([file]);
  });

  test("defaults for keys the seed did not have", () => {
    const c = loadConfig({ config: tomlFile(merged()) }, noEnv);
    expect(c.inference.jrpcHost).toBe(DEFAULTS.jrpcHost);
    expect(c.inference.jrpcToken).toBeUndefined();
    expect(c.eventSubscriber!.eventPackageId).toBe(PKG);
    expect(c.eventSubscriber!.network).toBe("testnet");
    expect(c.eventSubscriber!.startCheckpoint).toBeUndefined();
    expect(c.eventSubscriber!.leafCountPolicy).toBe("nodes");
    expect(c.eventSubscriber!.pollIntervalMs).toBe(1000);
    expect(c.eventSubscriber!.mode).toBe("subscribe");
    expect(c.client!.gasBudget).toBe(50_000_000n);
    expect(c.client!.maxBatchSize).toBe(8);
    expect(c.client!.address).toBeUndefined();
    expect(c.node).toEqual({ dataDir: "/work/dir/.state", webhookUrl: undefined, shutdownTimeoutMs: 30_000, httpTimeoutMs: 30_000, httpMaxConnections: 256, imageRetentionHours: 24 });
  });

  test("lenient seed keys: api_key, flush_storage, tracing, ws_url, request_timeout, max_concurrent_requests may be absent", () => {
    const file = tomlFile(
      merged({
        inference: `cache_dir = "m"\njrpc_port = 1\nmodels = []\n`,
        subscriber: `http_url = "http://127.0.0.1:9000"\npackage_id = "0x1"\nsmall_id = 0\n`,
        client: `config_path = "~/.sui/sui_config/client.yaml"\nnode_badge_id = "0x2"\nsmall_id = 0\npackage_id = "0x1"\natoma_db_id = "0x3"\n`,
      }),
    );
    const c = loadConfig({ config: file }, noEnv);
    expect(c.inference.apiKey).toBeUndefined();
    expect(c.inference.flushStorage).toBe(false);
    expect(c.inference.tracing).toBe(false);
    expect(c.inference.cacheDir).toBe("/work/dir/m");
    expect(c.inference.models).toEqual([]);
    expect(c.eventSubscriber!.wsUrl).toBeUndefined();
    expect(c.eventSubscriber!.requestTimeoutMs).toBe(300_000);
    expect(c.eventSubscriber!.network).toBe("localnet");
    expect(c.client!.requestTimeoutMs).toBe(300_000);
    expect(c.client!.maxConcurrentRequests).toBe(10);
    expect(c.client!.configPath).toBe(join(homedir(), ".sui/sui_config/client.yaml"));
  });

  test("local mode: no event_subscriber and no client", () => {
    const c = loadConfig({ config: tomlFile(merged({ subscriber: null, client: null })) }, noEnv);
    expect(c.eventSubscriber).toBeUndefined();
    expect(c.client).toBeUndefined();
    expect(c.inference.jrpcPort).toBe(3000);
  });

  test("unused sections of the 2024 reference ([output_manager], [streamer]) and unknown keys are ignored", () => {
    const c = loadConfig(
      { config: tomlFile(merged({ inference: `${INFERENCE}surprise = 1\n`, extra: `[output_manager]\nfirebase_url = "x"\n[streamer]\nfirebase_url = "y"\n` })) },
      noEnv,
    );
    expect(c.inference.jrpcPort).toBe(3000);
  });

  test("relative paths resolve against cwd (as the seed did)", () => {
    const file = tomlFile(merged({ inference: INFERENCE.replace('"/models"', '"cache"'), client: CLIENT.replace('"/etc/sui/client.yaml"', '"sui/client.yaml"') }));
    const c = loadConfig({ config: file }, { env: {}, cwd: "/srv/node" });
    expect(c.inference.cacheDir).toBe("/srv/node/cache");
    expect(c.inference.models[0]!.path).toBe("/srv/node/cache/llama_v2");
    expect(c.client!.configPath).toBe("/srv/node/sui/client.yaml");
    expect(loadConfig({ config: file }, { env: {} }).inference.cacheDir).toBe(resolve("cache"));
  });
});

describe("seed-era three files", () => {
  test("every field, same values as the merged form", () => {
    const s = seed();
    const c = loadConfig(s, noEnv);
    const m = loadConfig({ config: tomlFile(merged()) }, noEnv);
    expect({ ...c, sources: [] }).toEqual({ ...m, sources: [] });
    expect(c.sources).toEqual([s.modelConfigPath, s.suiSubscriberPath, s.atomaSuiClientConfigPath]);
  });

  test("model file alone runs local mode", () => {
    const c = loadConfig({ modelConfigPath: tomlFile(INFERENCE) }, noEnv);
    expect(c.eventSubscriber).toBeUndefined();
    expect(c.client).toBeUndefined();
  });

  test("seed files have no sections, so keys print bare", () => {
    const s = seed(INFERENCE.replace("jrpc_port = 3000", "jrpc_port = 70000"));
    expect(() => loadConfig(s, noEnv)).toThrow(`${s.modelConfigPath}: jrpc_port: 70000 is out of range, expected a port number 1..65535`);
  });
});

describe("environment overrides ATOMA_<SECTION>__<KEY>", () => {
  test("values are TOML values; hex and non-TOML text are strings", () => {
    const env = {
      ATOMA_INFERENCE__JRPC_PORT: "4000",
      ATOMA_INFERENCE__FLUSH_STORAGE: "true",
      ATOMA_INFERENCE__API_KEY: "hf_from_env_value",
      ATOMA_INFERENCE__MODELS: '[[[0], "f16", "phi_3-mini", "main", true]]',
      ATOMA_EVENT_SUBSCRIBER__PACKAGE_ID: "0x5",
      ATOMA_event_subscriber__small_id: "9",
      ATOMA_CLIENT__SMALL_ID: "9",
      ATOMA_CLIENT__GAS_BUDGET: "99",
      ATOMA_CLIENT__REQUEST_TIMEOUT__SECS: "5",
      ATOMA_CLIENT__REQUEST_TIMEOUT__NANOS: "0",
      ATOMA_NODE__DATA_DIR: "/var/lib/atoma",
      ATOMA_LOG: "info",
    };
    const c = loadConfig({ config: tomlFile(merged()) }, { env, cwd: "/" });
    expect(c.inference.jrpcPort).toBe(4000);
    expect(c.inference.flushStorage).toBe(true);
    expect(c.inference.apiKey).toBe("hf_from_env_value");
    expect(c.inference.models).toEqual([
      { deviceIds: [0], dtype: "f16", modelId: "phi_3-mini", revision: "main", useFlashAttention: true, device: "cpu", path: "/models/phi_3-mini", local: false, hub: { repo: "microsoft/Phi-3-mini-4k-instruct", revision: "main" } },
    ]);
    expect(c.eventSubscriber!.packageId).toBe("0x" + "0".repeat(63) + "5");
    expect(c.eventSubscriber!.smallId).toBe(9n);
    expect(c.client!.gasBudget).toBe(99n);
    expect(c.client!.requestTimeoutMs).toBe(5000);
    expect(c.node.dataDir).toBe("/var/lib/atoma");
  });

  test("apply to the seed files too, and can supply a whole section table", () => {
    const c = loadConfig(seed(), { env: { ATOMA_INFERENCE__JRPC_PORT: "4001", ATOMA_EVENT_SUBSCRIBER__REQUEST_TIMEOUT: "{ secs = 2, nanos = 0 }" }, cwd: "/" });
    expect(c.inference.jrpcPort).toBe(4001);
    expect(c.eventSubscriber!.requestTimeoutMs).toBe(2000);
  });

  test("a bad value names the variable", () => {
    expect(() => loadConfig({ config: tomlFile(merged()) }, { env: { ATOMA_INFERENCE__JRPC_PORT: "abc" } })).toThrow(
      'environment: ATOMA_INFERENCE__JRPC_PORT: got string "abc", expected a port number 1..65535',
    );
    expect(() => loadConfig({ config: tomlFile(merged()) }, { env: { ATOMA_CLIENT__REQUEST_TIMEOUT__NANOS: "1000000000" } })).toThrow(
      "environment: ATOMA_CLIENT__REQUEST_TIMEOUT__NANOS: 1000000000 is out of range, expected an integer 0..999999999",
    );
  });

  test("an override creating only one chain section is an error", () => {
    const file = tomlFile(merged({ subscriber: null, client: null }));
    expect(() => loadConfig({ config: file }, { env: { ATOMA_CLIENT__SMALL_ID: "1" } })).toThrow(
      `${file}: event_subscriber: missing while client is configured, expected both event_subscriber and client (chain mode) or neither (local mode)`,
    );
  });
});

describe("network from http_url", () => {
  test.each([
    ["https://fullnode.mainnet.sui.io:443", "mainnet"],
    ["https://fullnode.testnet.sui.io:443", "testnet"],
    ["https://fullnode.devnet.sui.io", "devnet"],
    ["http://127.0.0.1:9124", "localnet"],
  ])("%s → %s", (url, net) => expect(networkFromUrl(url)).toBe(net));
});

describe("bad input: one-line message naming file, key and expectation", () => {
  const cases: [string, string, (f: string) => string][] = [
    ["syntax error with line", merged().replace("jrpc_port = 3000", "jrpc_port = = 3000"), (f) => `${f}: line 5, column 13: syntax error: invalid value, expected valid TOML`],
    ["missing key", merged({ inference: INFERENCE.replace("jrpc_port = 3000\n", "") }), (f) => `${f}: inference.jrpc_port: missing, expected a port number 1..65535`],
    ["missing models", merged({ inference: INFERENCE.replace(/models = .*\n/, "") }), (f) => `${f}: inference.models: missing, expected an array of [device, precision, model_type, use_flash_attention], [device_ids, dtype, model_id, revision, use_flash_attention] or [[models]] tables`],
    ["missing object id", merged({ client: CLIENT.replace(/atoma_db_id = .*\n/, "") }), (f) => `${f}: client.atoma_db_id: missing, expected a 32-byte hex object id (0x followed by up to 64 hex digits)`],
    ["wrong type (string port)", merged({ inference: INFERENCE.replace("jrpc_port = 3000", 'jrpc_port = "3000"') }), (f) => `${f}: inference.jrpc_port: got string "3000", expected a port number 1..65535`],
    ["wrong type (float)", merged({ client: CLIENT.replace("max_concurrent_requests = 4", "max_concurrent_requests = 4.5") }), (f) => `${f}: client.max_concurrent_requests: got float 4.5, expected an integer 1..1000000`],
    ["wrong type (bool)", merged({ inference: INFERENCE.replace("flush_storage = false", 'flush_storage = "no"') }), (f) => `${f}: inference.flush_storage: got string "no", expected true or false`],
    ["unknown model_type", merged({ inference: INFERENCE.replace("llama_v2", "llama_v9") }), (f) => `${f}: inference.models[0][2]: unknown model_type "llama_v9", expected a seed model_type (see atoma-node models list), an org/name[@revision] Hugging Face repo, a folder (./dir), or a [[models]] table with an explicit path`],
    ["port 0", merged({ inference: INFERENCE.replace("jrpc_port = 3000", "jrpc_port = 0") }), (f) => `${f}: inference.jrpc_port: 0 is out of range, expected a port number 1..65535`],
    ["port 65536", merged({ inference: INFERENCE.replace("jrpc_port = 3000", "jrpc_port = 65536") }), (f) => `${f}: inference.jrpc_port: 65536 is out of range, expected a port number 1..65535`],
    ["object id not hex", merged({ client: CLIENT.replace(BADGE, "0xnothex") }), (f) => `${f}: client.node_badge_id: "0xnothex" is not a valid object id, expected a 32-byte hex object id (0x followed by up to 64 hex digits)`],
    ["object id without 0x", merged({ subscriber: SUBSCRIBER.replace(PKG, PKG.slice(2)) }), (f) => `${f}: event_subscriber.package_id: "${PKG.slice(2)}" is not a valid object id, expected a 32-byte hex object id (0x followed by up to 64 hex digits)`],
    ["object id too long", merged({ client: CLIENT.replace(DB, DB + "00") }), (f) => `${f}: client.atoma_db_id: "${DB}00" is not a valid object id, expected a 32-byte hex object id (0x followed by up to 64 hex digits)`],
    ["negative small_id", merged({ subscriber: SUBSCRIBER.replace("small_id = 7", "small_id = -7") }), (f) => `${f}: event_subscriber.small_id: negative number -7, expected an integer >= 0`],
    ["negative timeout secs", merged({ client: CLIENT.replace("secs = 60", "secs = -1") }), (f) => `${f}: client.request_timeout.secs: negative number -1, expected an integer >= 0 (seconds)`],
    ["nanos ≥ 1e9", merged({ subscriber: SUBSCRIBER.replace("nanos = 0", "nanos = 1000000000") }), (f) => `${f}: event_subscriber.request_timeout.nanos: 1000000000 is out of range, expected an integer 0..999999999`],
    ["timeout not a table", merged({ client: CLIENT.replace(/\[request_timeout\][^]*$/, "request_timeout = 30\n") }), (f) => `${f}: client.request_timeout: got integer 30, expected a table { secs = <integer>, nanos = <integer below 1000000000> }`],
    ["zero timeout", merged({ client: CLIENT.replace("secs = 60\nnanos = 500000000", "secs = 0\nnanos = 0") }), (f) => `${f}: client.request_timeout: zero duration, expected a timeout greater than zero`],
    ["two device ids", merged({ inference: INFERENCE.replace('[0, "f32"', '[[0, 1], "f32"').replace('false]]', '"", false]]') }), (f) => `${f}: inference.models[0][0]: 2 device ids (no tensor parallelism), expected exactly one device id`],
    ["negative device id", merged({ inference: INFERENCE.replace('[0, "f32"', '[-1, "f32"') }), (f) => `${f}: inference.models[0][0]: negative number -1, expected a device id (integer >= 0) or an array with one device id`],
    ["bad dtype", merged({ inference: INFERENCE.replace('"f32"', '"f64"') }), (f) => `${f}: inference.models[0][1]: got string "f64", expected one of "f32", "f16", "bf16", "q8", "q4", "q4f16"`],
    ["3-element model", merged({ inference: INFERENCE.replace('[0, "f32", "llama_v2", false]', '[0, "f32", "llama_v2"]') }), (f) => `${f}: inference.models[0]: array of 3 elements, expected 4 elements [device, precision, model_type, use_flash_attention] or 5 elements [device_ids, dtype, model_id, revision, use_flash_attention]`],
    ["4-element with revision string in place of flag", merged({ inference: INFERENCE.replace('[0, "f32", "llama_v2", false]', '[0, "f32", "llama_v2", ""]') }), (f) => `${f}: inference.models[0][3]: got string "" (a 4-element entry has no revision), expected use_flash_attention true or false`],
    ["model entry not an array or table", merged({ inference: INFERENCE.replace('[[0, "f32", "llama_v2", false]]', '["llama_v2"]') }), (f) => `${f}: inference.models[0]: got string "llama_v2", expected [device, precision, model_type, use_flash_attention], [device_ids, dtype, model_id, revision, use_flash_attention] or a table`],
    ["bad http_url", merged({ subscriber: SUBSCRIBER.replace("https://fullnode.testnet.sui.io:443", "fullnode") }), (f) => `${f}: event_subscriber.http_url: "fullnode" is not a URL, expected a URL (http or https)`],
    ["ws scheme for http_url", merged({ subscriber: SUBSCRIBER.replace("https://fullnode.testnet.sui.io:443", "wss://x") }), (f) => `${f}: event_subscriber.http_url: unsupported scheme "wss:", expected a URL (http or https)`],
    ["small_id mismatch", merged({ client: CLIENT.replace("small_id = 7", "small_id = 8") }), (f) => `${f}: client.small_id: 8 differs from event_subscriber small_id 7, expected the same node small id in both`],
    ["event_subscriber without client", merged({ client: null }), (f) => `${f}: client: missing while event_subscriber is configured, expected both event_subscriber and client (chain mode) or neither (local mode)`],
    ["section not a table", "inference = 3\n", (f) => `${f}: inference: got integer 3, expected a [inference] section`],
    ["no inference section", merged().replace(/\[inference\][^]*?\[event_subscriber\]/, "[event_subscriber]"), (f) => `${f}: inference: missing, expected the model inference configuration`],
    ["bad leaf_count_policy", merged({ subscriber: `leaf_count_policy = "all"\n${SUBSCRIBER}` }), (f) => `${f}: event_subscriber.leaf_count_policy: got string "all", expected one of "nodes", "chunks_count"`],
    ["zero gas budget", merged({ client: `gas_budget = 0\n${CLIENT}` }), (f) => `${f}: client.gas_budget: 0 is out of range, expected an integer >= 1`],
    ["flush_storage would delete data_dir", merged({ inference: INFERENCE.replace("flush_storage = false", "flush_storage = true"), extra: `[node]\ndata_dir = "/models/state"\n` }), (f) => `${f}: inference.flush_storage: true would delete data_dir /models/state inside cache_dir, expected data_dir outside cache_dir when flush_storage = true`],
    ["bad webhook", merged({ extra: `[node]\nwebhook_url = "ftp://x"\n` }), (f) => `${f}: node.webhook_url: unsupported scheme "ftp:", expected a URL (http or https)`],
  ];
  for (const [name, text, message] of cases) {
    test(name, () => {
      const file = tomlFile(text);
      let err: unknown;
      try {
        loadConfig({ config: file }, noEnv);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe(message(file));
      expect((err as Error).message).not.toContain("\n");
    });
  }

  test("webhook_url credentials (password, token user, query) never print", () => {
    const url = "https://hook:pw-s3cret-9@hooks.example.com/out?token=q-s3cret-7";
    const c = loadConfig({ config: tomlFile(merged({ extra: `[node]\nwebhook_url = "${url}"\n` })) }, noEnv);
    expect(c.node.webhookUrl).toBe(url);
    const printed = JSON.stringify(redact(c.node)) + redactText(`fetch ${url} failed; password pw-s3cret-9, query token=q-s3cret-7`);
    expect(printed).not.toContain("pw-s3cret-9");
    expect(printed).not.toContain("q-s3cret-7");
    let err: unknown;
    try {
      loadConfig({ config: tomlFile(merged({ extra: `[node]\nwebhook_url = "ftp://u:ftp-s3cret-1@x/"\n` })) }, noEnv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain("ftp-s3cret-1");
    const tokenUser = loadConfig({ config: tomlFile(merged({ extra: `[node]\nwebhook_url = "https://user-tok-s3cret@h.example/"\n` })) }, noEnv);
    expect(JSON.stringify(redact(tokenUser.node))).not.toContain("user-tok-s3cret");
  });

  test("missing file", () => {
    const file = join(tempDir, "nope.toml");
    expect(() => loadConfig({ config: file }, noEnv)).toThrow(`${file}: file: no such file, expected a readable TOML file`);
  });

  test("a directory instead of a file", () => {
    expect(() => loadConfig({ config: tempDir }, noEnv)).toThrow(`${tempDir}: file: is a directory, expected a readable TOML file`);
  });

  test("--config together with seed flags", () => {
    expect(() => loadConfig({ config: "a.toml", modelConfigPath: "b.toml" }, noEnv)).toThrow(
      "command line: --config: given together with --model-config-path, expected either --config <file> or the three seed flags",
    );
  });

  test("no configuration at all", () => {
    expect(() => loadConfig({}, noEnv)).toThrow(
      "command line: --config: no configuration given, expected --config <file> or --model-config-path (with --sui-subscriber-path and --atoma-sui-client-config-path for chain mode)",
    );
  });

  test("seed subscriber without client file", () => {
    const s = seed();
    expect(() => loadConfig({ modelConfigPath: s.modelConfigPath, suiSubscriberPath: s.suiSubscriberPath }, noEnv)).toThrow(
      "command line: --atoma-sui-client-config-path: missing while event_subscriber is configured, expected both event_subscriber and client (chain mode) or neither (local mode)",
    );
  });

  test("seed chain files without the model file", () => {
    const s = seed();
    expect(() => loadConfig({ suiSubscriberPath: s.suiSubscriberPath, atomaSuiClientConfigPath: s.atomaSuiClientConfigPath }, noEnv)).toThrow(
      "command line: --model-config-path: missing, expected the model inference configuration",
    );
  });

  test("a secret never appears in an error message", () => {
    const file = tomlFile(merged({ inference: `jrpc_token = "very-secret-token-value"\n${INFERENCE.replace("jrpc_port = 3000", 'jrpc_port = "very-secret-token-value"')}` }));
    expect(() => loadConfig({ config: file }, noEnv)).toThrow(`${file}: inference.jrpc_port: got string "***", expected a port number 1..65535`);
  });
});
