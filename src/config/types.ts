/**
 * Typed, validated node configuration. Produced by `loadConfig` (src/config/load.ts) from the
 * seed-era three files, the merged single file, and `ATOMA_*` environment overrides.
 * Every module receives these types, never raw TOML.
 */
import type { DType, Device } from "../engine/types.ts";
import type { RepoRef } from "../models/hub-cache.ts";
import type { RemoteEngineConfig } from "../engine/remote/types.ts";

/** One hosted model (spec §2.2; 4-element, 5-element and table forms all normalise to this). */
export interface ModelEntry {
  /** GPU ordinals from the seed config; only one device is supported (no tensor parallelism). */
  deviceIds: number[];
  dtype: DType;
  /** Set when the configured dtype was not used (a `quantized_*` row serves its file's own
   * precision): the one line `run` logs and `doctor` shows. */
  dtypeIgnored?: string;
  /** The on-chain `params.model` name this node serves: a seed `model_type`, an `org/name[@rev]`
   * Hugging Face repo, a folder, or a custom name with `path`. */
  modelId: string;
  /** Recorded for provenance only (the reference never used it). */
  revision: string;
  /** Accepted and ignored: ONNX Runtime chooses attention kernels. */
  useFlashAttention: boolean;
  /** Inference backend; default `cpu`. */
  device: Device;
  /** The folder to load when `local`; otherwise `<cache_dir>/<modelId>`, used when an operator put
   * a transformers.js folder there, before the hub cache is consulted. */
  path: string;
  /** `path` is the model (explicit `path`, or a model_id written as a folder): never pulled. */
  local: boolean;
  /** Where the model is pulled from: the seed row's repo at its revision, or the `org/name[@rev]` id. */
  hub: RepoRef | undefined;
  /** Set when generations run on remote OpenAI-compatible servers (docs/remote-engines.md). */
  remote?: RemoteEngineConfig;
  /** `max_batch`: most generations of this model decoded together (default 8; 1 = one at a time). */
  maxBatch?: number;
  /** Image models only: request limits (`max_image_size`, `max_steps`, `max_samples`); defaults
   * in src/engine/image/engine.ts. */
  image?: { maxSize?: number; maxSteps?: number; maxSamples?: number };
}

export interface InferenceConfig {
  /** Hugging Face token. Secret: never log it. */
  apiKey: string | undefined;
  /** Hub cache (models--org--name/…) and model folders; default the hub's own (HF_HUB_CACHE/HF_HOME rules). */
  cacheDir: string;
  /** `run` pulls configured models missing from the cache (default true). */
  autoPull: boolean;
  flushStorage: boolean;
  jrpcPort: number;
  /** Bind address of the JSON-RPC/HTTP server (default 127.0.0.1). */
  jrpcHost: string;
  /** Optional bearer token required by the JSON-RPC/HTTP server. Secret. */
  jrpcToken: string | undefined;
  models: ModelEntry[];
  tracing: boolean;
  /** OpenAI API: requests per model allowed to wait or run at once; more get 429 (default 16). */
  apiQueueSize: number;
  /** OpenAI API: requests per minute per bearer key; 0 = unlimited (default). */
  apiRateLimit: number;
}

export type LeafCountPolicy = "chunks_count" | "nodes";

export interface EventSubscriberConfig {
  /** Full-node URL; also the gRPC(-web) base URL. */
  httpUrl: string;
  /** Accepted for compatibility and ignored (WebSocket subscriptions no longer exist). */
  wsUrl: string | undefined;
  /** Package id used for Move calls (latest). Normalised 0x + 64 hex. */
  packageId: string;
  /** Package id that defined the event types (differs after upgrades); default = packageId. */
  eventPackageId: string;
  smallId: bigint;
  requestTimeoutMs: number;
  /** Network name given to the SDK client (`mainnet`, `testnet`, `localnet`, …). */
  network: string;
  /** Checkpoint to start from when no cursor is stored; undefined = chain tip. */
  startCheckpoint: bigint | undefined;
  /** `nodes` (default: reference parity, what the deployed contract settles) or `chunks_count`
   * (the intended design, for a contract that adds cross-validation nodes to ticket.all), spec §5.3. */
  leafCountPolicy: LeafCountPolicy;
  /** Poll interval of the `listEvents` fallback. */
  pollIntervalMs: number;
  /** `subscribe` (checkpoint stream, default) or `poll` (listEvents). */
  mode: "subscribe" | "poll";
}

export interface SuiClientConfig {
  /** Sui CLI client.yaml. */
  configPath: string;
  nodeBadgeId: string;
  smallId: bigint;
  packageId: string;
  atomaDbId: string;
  maxConcurrentRequests: number;
  requestTimeoutMs: number;
  /** Gas budget per commitment transaction, MIST. */
  gasBudget: bigint;
  /** Optional explicit signer (must be in the keystore); default the active address. */
  address: string | undefined;
  /** Max `submit_commitment` calls batched into one programmable transaction. */
  maxBatchSize: number;
}

export interface NodeSection {
  /** Directory for the SQLite job store and other state (default `.state`, relative to the working directory; load.ts DEFAULTS). */
  dataDir: string;
  /** Optional URL the first submitter POSTs outputs + metadata to. */
  webhookUrl: string | undefined;
  /** Upper bound on graceful shutdown. */
  shutdownTimeoutMs: number;
  /** HTTP: idle bound per connection and bound on receiving a request body (docs/operations.md). */
  httpTimeoutMs: number;
  /** HTTP: requests in flight at once, stalled ones included. */
  httpMaxConnections: number;
  /** Image jobs' PNGs are deleted this long after the node is done with the job (committed and
   * published, or failed); 0 = kept forever (src/jobs/image-retention.ts). */
  imageRetentionHours: number;
}

export interface NodeConfig {
  inference: InferenceConfig;
  /** Absent = local mode (JSON-RPC/HTTP only, nothing on chain). */
  eventSubscriber: EventSubscriberConfig | undefined;
  client: SuiClientConfig | undefined;
  node: NodeSection;
  /** Files the configuration came from (for logs and `doctor`). */
  sources: string[];
}
