/**
 * Builds the typed NodeConfig from either
 *  - the seed-era three files (`--model-config-path`, `--sui-subscriber-path`,
 *    `--atoma-sui-client-config-path`; keys at top level), or
 *  - one merged file (`--config`/`--config-path`) with `[inference]`, `[event_subscriber]`,
 *    `[client]` and our optional `[node]` section,
 * then `ATOMA_<SECTION>__<KEY>` environment overrides. Without `event_subscriber` and `client`
 * the node runs in local mode (JSON-RPC/HTTP only). Any problem is a one-line ConfigError.
 */
import { readFileSync } from "node:fs";
import { relative, sep } from "node:path";
import { parse, TomlError } from "smol-toml";
import { log, registerSecret } from "../log/logger.ts";
import { ConfigError, describeValue } from "./errors.ts";
import { applyOverrides, envOverrides, type SectionName } from "./env.ts";
import { isTable, Section, type RawTable } from "./fields.ts";
import { parseModels } from "./models.ts";
import { defaultHubCache } from "../models/hub-cache.ts";
import type { EventSubscriberConfig, InferenceConfig, NodeConfig, NodeSection, SuiClientConfig } from "./types.ts";

export interface ConfigSources {
  /** Merged single file (`--config` / `--config-path`). */
  config?: string;
  /** Seed-era files. */
  modelConfigPath?: string;
  suiSubscriberPath?: string;
  atomaSuiClientConfigPath?: string;
}

export interface LoadOptions {
  /** Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Base for relative paths inside the files; default `process.cwd()` (as the seed did). */
  cwd?: string;
}

/** Defaults for keys the seed did not have (or that we made optional); documented in the README. */
export const DEFAULTS = {
  jrpcHost: "127.0.0.1",
  requestTimeoutMs: 300_000,
  maxConcurrentRequests: 10,
  gasBudget: 50_000_000n,
  maxBatchSize: 8,
  pollIntervalMs: 1000,
  dataDir: ".state",
  shutdownTimeoutMs: 30_000,
  httpTimeoutMs: 30_000,
  httpMaxConnections: 256,
  imageRetentionHours: 24,
  apiQueueSize: 16,
  apiRateLimit: 0,
} as const;

const CLI = "command line";
const SEED_FLAGS = {
  modelConfigPath: "--model-config-path",
  suiSubscriberPath: "--sui-subscriber-path",
  atomaSuiClientConfigPath: "--atoma-sui-client-config-path",
} as const;

export function loadConfig(sources: ConfigSources, opts: LoadOptions = {}): NodeConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const { tables, files, prefixes } = readSources(sources);
  const provenance = applyOverrides(tables, envOverrides(env));
  const section = (name: SectionName): Section | undefined => {
    const t = tables[name];
    return t === undefined ? undefined : new Section(t, files[name] ?? "environment", prefixes[name] ?? `${name}.`, provenance.get(name));
  };

  const inf = section("inference");
  if (!inf) throw new ConfigError(sources.config ?? CLI, sources.config ? "inference" : SEED_FLAGS.modelConfigPath, "missing", "the model inference configuration");
  const inference = readInference(inf, cwd, env);
  const es = section("event_subscriber");
  const cl = section("client");
  if ((es === undefined) !== (cl === undefined)) {
    const [have, lack] = es ? ["event_subscriber", "client"] : ["client", "event_subscriber"];
    const file = sources.config ?? CLI;
    const key = sources.config ? lack : lack === "client" ? SEED_FLAGS.atomaSuiClientConfigPath : SEED_FLAGS.suiSubscriberPath;
    throw new ConfigError(file, key, `missing while ${have} is configured`, "both event_subscriber and client (chain mode) or neither (local mode)");
  }
  const eventSubscriber = es ? readEventSubscriber(es) : undefined;
  const client = cl ? readClient(cl, cwd) : undefined;
  if (eventSubscriber && client && eventSubscriber.smallId !== client.smallId && cl) {
    cl.fail("small_id", `${client.smallId} differs from event_subscriber small_id ${eventSubscriber.smallId}`, "the same node small id in both");
  }
  const node = readNode(section("node") ?? new Section({}, "defaults", "node."), cwd);
  if (inference.flushStorage && isInside(node.dataDir, inference.cacheDir)) {
    inf.fail("flush_storage", `true would delete data_dir ${node.dataDir} inside cache_dir`, "data_dir outside cache_dir when flush_storage = true");
  }
  for (const s of [inf, es, cl]) s?.reportUnknown();
  return { inference, eventSubscriber, client, node, sources: [...new Set(Object.values(files))] };
}

function readSources(sources: ConfigSources): {
  tables: Partial<Record<SectionName, RawTable>>;
  files: Partial<Record<SectionName, string>>;
  prefixes: Partial<Record<SectionName, string>>;
} {
  const seedGiven = (Object.keys(SEED_FLAGS) as (keyof typeof SEED_FLAGS)[]).filter((k) => sources[k] !== undefined);
  if (sources.config !== undefined && seedGiven.length > 0) {
    throw new ConfigError(CLI, "--config", `given together with ${SEED_FLAGS[seedGiven[0]!]}`, "either --config <file> or the three seed flags");
  }
  if (sources.config !== undefined) {
    const file = sources.config;
    const doc = readToml(file);
    const tables: Partial<Record<SectionName, RawTable>> = {};
    for (const name of ["inference", "event_subscriber", "client", "node"] as const) {
      const v = doc[name];
      if (v === undefined) continue;
      if (!isTable(v)) throw new ConfigError(file, name, `got ${describeValue(v)}`, `a [${name}] section`);
      tables[name] = v;
    }
    for (const key of Object.keys(doc)) {
      if (!(key in tables)) log.debug(`${file}: ${key}: section not used by this node, ignored`);
    }
    return { tables, files: { inference: file, event_subscriber: file, client: file, node: file }, prefixes: {} };
  }
  if (seedGiven.length === 0) {
    throw new ConfigError(CLI, "--config", "no configuration given", "--config <file> or --model-config-path (with --sui-subscriber-path and --atoma-sui-client-config-path for chain mode)");
  }
  const tables: Partial<Record<SectionName, RawTable>> = {};
  const files: Partial<Record<SectionName, string>> = {};
  const map = { modelConfigPath: "inference", suiSubscriberPath: "event_subscriber", atomaSuiClientConfigPath: "client" } as const;
  for (const k of seedGiven) {
    const file = sources[k]!;
    tables[map[k]] = readToml(file);
    files[map[k]] = file;
  }
  // Seed files have no sections, so keys print bare (`jrpc_port`, not `inference.jrpc_port`).
  return { tables, files, prefixes: { inference: "", event_subscriber: "", client: "" } };
}

function readToml(file: string): RawTable {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : `cannot be read (${code ?? "error"})`;
    throw new ConfigError(file, "file", why, "a readable TOML file");
  }
  try {
    return parse(text, { integersAsBigInt: true }) as RawTable;
  } catch (e) {
    if (e instanceof TomlError) {
      const what = e.message.split("\n")[0]!.replace(/^Invalid TOML document:\s*/, "");
      throw new ConfigError(file, `line ${e.line}, column ${e.column}`, `syntax error: ${what}`, "valid TOML");
    }
    throw new ConfigError(file, "file", `cannot be parsed (${String(e)})`, "valid TOML");
  }
}

function readInference(s: Section, cwd: string, env: Record<string, string | undefined>): InferenceConfig {
  const apiKey = s.optSecret("api_key");
  const jrpcToken = s.optSecret("jrpc_token");
  const cacheDir = s.path("cache_dir", cwd, defaultHubCache(env));
  const jrpcHost = s.str("jrpc_host", DEFAULTS.jrpcHost);
  if (jrpcHost.trim() === "") s.fail("jrpc_host", "empty", "a bind address such as 127.0.0.1 or 0.0.0.0");
  s.peek("models");
  return {
    apiKey,
    cacheDir,
    autoPull: s.bool("auto_pull", true),
    flushStorage: s.bool("flush_storage", false),
    jrpcPort: s.port("jrpc_port"),
    jrpcHost,
    jrpcToken,
    models: parseModels(s, cacheDir, cwd),
    tracing: s.bool("tracing", false),
    apiQueueSize: s.int("api_queue_size", { min: 1, max: 100_000, def: DEFAULTS.apiQueueSize }),
    apiRateLimit: s.int("api_rate_limit", { min: 0, max: 1_000_000, def: DEFAULTS.apiRateLimit }),
  };
}

/** The SDK client wants a network name; public full-node URLs contain it. */
export function networkFromUrl(url: string): string {
  const host = new URL(url).hostname;
  for (const n of ["mainnet", "testnet", "devnet"]) if (host.includes(n)) return n;
  return "localnet";
}

function readEventSubscriber(s: Section): EventSubscriberConfig {
  // A provider URL may carry an API key (`https://user:KEY@…`, `?token=…`); errors quote the URL.
  registerUrlSecrets(s.peek("http_url"));
  const httpUrl = s.url("http_url", ["http", "https"]);
  const packageId = s.objectId("package_id");
  return {
    httpUrl,
    wsUrl: s.optStr("ws_url"),
    packageId,
    eventPackageId: s.objectId("event_package_id", packageId),
    smallId: s.bigint("small_id"),
    requestTimeoutMs: s.durationMs("request_timeout", DEFAULTS.requestTimeoutMs),
    network: s.str("network", networkFromUrl(httpUrl)),
    startCheckpoint: s.has("start_checkpoint") ? s.bigint("start_checkpoint") : (s.peek("start_checkpoint"), undefined),
    // "nodes": what the deployed contract settles (docs/chain.md, spec §5.3).
    leafCountPolicy: s.oneOf("leaf_count_policy", ["nodes", "chunks_count"] as const, "nodes"),
    pollIntervalMs: s.int("poll_interval_ms", { min: 1, def: DEFAULTS.pollIntervalMs }),
    mode: s.oneOf("mode", ["subscribe", "poll"] as const, "subscribe"),
  };
}

function readClient(s: Section, cwd: string): SuiClientConfig {
  return {
    configPath: s.path("config_path", cwd),
    nodeBadgeId: s.objectId("node_badge_id"),
    smallId: s.bigint("small_id"),
    packageId: s.objectId("package_id"),
    atomaDbId: s.objectId("atoma_db_id"),
    maxConcurrentRequests: s.int("max_concurrent_requests", { min: 1, max: 1_000_000, def: DEFAULTS.maxConcurrentRequests }),
    requestTimeoutMs: s.durationMs("request_timeout", DEFAULTS.requestTimeoutMs),
    gasBudget: s.bigint("gas_budget", { min: 1n, def: DEFAULTS.gasBudget }),
    address: s.optObjectId("address"),
    maxBatchSize: s.int("max_batch_size", { min: 1, max: 1024, def: DEFAULTS.maxBatchSize }),
  };
}

/**
 * A webhook URL may carry its credentials (`https://user:TOKEN@host/…`, `?token=…`). They are
 * registered as secrets before the URL is validated, so neither config errors, the printed
 * effective configuration nor fetch errors quoting the URL show them. Text that is not a URL but
 * looks like it could hold credentials is masked whole.
 */
function registerUrlSecrets(raw: unknown): void {
  if (typeof raw !== "string") return;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    if (/[@?]/.test(raw)) registerSecret(raw);
    return;
  }
  const query = u.search.replace(/^\?/, "");
  if (!u.password && !query && !u.username) return;
  registerSecret(raw);
  registerSecret(u.href);
  registerSecret(u.password);
  registerSecret(safeDecode(u.password));
  if (!u.password) registerSecret(u.username); // `https://TOKEN@host`: the user name is the token
  registerSecret(query);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function readNode(s: Section, cwd: string): NodeSection {
  registerUrlSecrets(s.peek("webhook_url"));
  const webhookUrl = s.has("webhook_url") ? s.url("webhook_url", ["http", "https"]) : (s.peek("webhook_url"), undefined);
  const node: NodeSection = {
    dataDir: s.path("data_dir", cwd, DEFAULTS.dataDir),
    webhookUrl,
    shutdownTimeoutMs: s.int("shutdown_timeout_ms", { min: 1, def: DEFAULTS.shutdownTimeoutMs }),
    // Bun's idle timeout counts whole seconds up to 255.
    httpTimeoutMs: s.int("http_timeout_ms", { min: 1000, max: 255_000, def: DEFAULTS.httpTimeoutMs }),
    httpMaxConnections: s.int("http_max_connections", { min: 1, max: 1_000_000, def: DEFAULTS.httpMaxConnections }),
    imageRetentionHours: s.int("image_retention_hours", { min: 0, max: 87_600, def: DEFAULTS.imageRetentionHours, what: "hours 0 … 87600 (0 = keep forever)" }),
  };
  s.reportUnknown();
  return node;
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith(sep) && rel !== child);
}
