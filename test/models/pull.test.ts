/**
 * `models pull` against the local hub (test/support/hub-server): the real @huggingface/hub client
 * over HTTP on loopback, into a real hub-cache layout on disk.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pullRepo, type PullOptions } from "../../src/models/pull.ts";
import { PullError } from "../../src/models/pull-errors.ts";
import { TerminalProgress, type PullProgress } from "../../src/models/progress.ts";
import { cachedSnapshot, repoFolder } from "../../src/models/hub-cache.ts";
import { startHubServer, type HubServer } from "../support/hub-server/index.ts";
import { filesFromDir, makeRepo, sha256Hex } from "../support/hub-server/repo.ts";
import { tinyOnnxModelDir } from "../support/hub-server/tiny-model.ts";

const TOKEN = "hf_test_token_granted";
const UNGRANTED = "hf_test_token_other";
let hub: HubServer;
let modelDir: string;
const work = mkdtempSync(join(tmpdir(), "atoma-pull-"));
let n = 0;
const freshCache = () => join(work, `cache-${n++}`);

const quiet: PullProgress = { start() {}, file() {}, bytes() {}, fileDone() {}, end() {} };

beforeAll(async () => {
  modelDir = await tinyOnnxModelDir();
  const files = filesFromDir(modelDir);
  hub = startHubServer({
    repos: [makeRepo("test-org/tiny-onnx", files, { refs: ["refs/pr/1"] }), makeRepo("test-org/gated-onnx", files, { gated: true })],
    tokens: { [TOKEN]: ["test-org/gated-onnx"], [UNGRANTED]: [] },
    pageSize: 3,
  });
});
afterAll(async () => {
  await hub.stop();
  rmSync(work, { recursive: true, force: true });
});

const pull = (o: Partial<Omit<PullOptions, "token">> & { repo?: string; revision?: string; token?: string }) =>
  pullRepo({
    ref: { repo: o.repo ?? "test-org/tiny-onnx", revision: o.revision },
    cacheDir: o.cacheDir ?? freshCache(),
    endpoint: o.endpoint ?? hub.url,
    token: o.token ? { token: o.token, source: "HF_TOKEN" } : { token: undefined, source: "none" },
    progress: o.progress ?? quiet,
    include: o.include,
  });

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

async function pullError(p: Promise<unknown>): Promise<PullError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(PullError);
    return e as PullError;
  }
  throw new Error("pull succeeded");
}

describe("models pull", () => {
  test("full pull: every file in the hub-cache layout, byte-identical, ref written", async () => {
    const cacheDir = freshCache();
    const r = await pull({ cacheDir });
    const repo = hub.repos.get("test-org/tiny-onnx")!;
    expect(r.commit).toBe(repo.refs.get("main")!);
    expect(r.dir).toBe(join(repoFolder(cacheDir, "test-org/tiny-onnx"), "snapshots", r.commit));
    expect(r.dir).toContain("models--test-org--tiny-onnx");
    expect(readFileSync(join(repoFolder(cacheDir, "test-org/tiny-onnx"), "refs", "main"), "utf8")).toBe(r.commit);
    for (const f of repo.files.values()) {
      const p = join(r.dir, f.path);
      expect(lstatSync(p).isSymbolicLink()).toBe(true);
      expect(readlinkSync(p).startsWith("../")).toBe(true); // relative, as other hub tools write it
      expect(sha(p)).toBe(sha256Hex(f.bytes));
      expect(existsSync(join(repoFolder(cacheDir, "test-org/tiny-onnx"), "blobs", f.lfs?.oid ?? f.oid))).toBe(true);
    }
    expect(r.files).toBe(repo.files.size);
    expect(cachedSnapshot(cacheDir, { repo: "test-org/tiny-onnx", revision: undefined })).toBe(r.dir);
    // The large (LFS) files came through the redirect to the second origin.
    expect(hub.requests.some((q) => q.origin === "cdn" && q.path.startsWith("/lfs/"))).toBe(true);
    // A second pull fetches nothing.
    const again = await pull({ cacheDir });
    expect(again.fetched).toBe(0);
  });

  test("a revision given as refs/pr/N and a pinned commit", async () => {
    const cacheDir = freshCache();
    const r = await pull({ cacheDir, revision: "refs/pr/1" });
    expect(readFileSync(join(repoFolder(cacheDir, "test-org/tiny-onnx"), "refs", "refs", "pr", "1"), "utf8")).toBe(r.commit);
    const pinned = await pull({ cacheDir: freshCache(), revision: r.commit });
    expect(pinned.commit).toBe(r.commit);
  });

  test("interrupted pull, then resume with Range: the file's sha256 equals the source", async () => {
    const cacheDir = freshCache();
    const onnx = hub.repos.get("test-org/tiny-onnx")!.files.get("onnx/model.onnx")!;
    const cut = Math.floor(onnx.bytes.byteLength / 3);
    hub.cutAfter.set("onnx/model.onnx", cut);
    const e = await pullError(pull({ cacheDir }));
    expect(e.message).toContain("pull again to resume");
    expect(e.message.split("\n").length).toBe(1);
    const blobs = join(repoFolder(cacheDir, "test-org/tiny-onnx"), "blobs");
    const partial = join(blobs, `${onnx.lfs!.oid}.incomplete`);
    expect(readFileSync(partial).byteLength).toBe(cut);
    // Nothing unverified is reachable: no blob, no snapshot entry, no ref yet.
    expect(existsSync(join(blobs, onnx.lfs!.oid))).toBe(false);
    expect(cachedSnapshot(cacheDir, { repo: "test-org/tiny-onnx", revision: undefined })).toBeUndefined();

    const before = hub.requests.length;
    const r = await pull({ cacheDir });
    const ranged = hub.requests.slice(before).filter((q) => q.origin === "cdn" && q.range === `bytes=${cut}-`);
    expect(ranged.length).toBe(1);
    expect(sha(join(r.dir, "onnx/model.onnx"))).toBe(onnx.lfs!.oid);
    expect(existsSync(partial)).toBe(false);
  });

  test("a resume against a server that ignores Range (200, whole body) restarts the file instead of appending", async () => {
    const cacheDir = freshCache();
    const onnx = hub.repos.get("test-org/tiny-onnx")!.files.get("onnx/model.onnx")!;
    hub.cutAfter.set("onnx/model.onnx", 1000);
    await pullError(pull({ cacheDir }));
    hub.ignoreRange.add("onnx/model.onnx");
    try {
      const r = await pull({ cacheDir });
      expect(sha(join(r.dir, "onnx/model.onnx"))).toBe(onnx.lfs!.oid);
    } finally {
      hub.ignoreRange.delete("onnx/model.onnx");
    }
  });

  test("an empty lock file left by another tool (Python's filelock leaves them) does not block a pull", async () => {
    const cacheDir = freshCache();
    const onnx = hub.repos.get("test-org/tiny-onnx")!.files.get("onnx/model.onnx")!;
    const locks = join(cacheDir, ".locks", "models--test-org--tiny-onnx");
    mkdirSync(locks, { recursive: true });
    const lock = join(locks, `${onnx.lfs!.oid}.lock`);
    writeFileSync(lock, "");
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    const r = await pull({ cacheDir });
    expect(sha(join(r.dir, "onnx/model.onnx"))).toBe(onnx.lfs!.oid);
  });

  test("corrupted bytes are rejected: no blob, no snapshot file, partial discarded", async () => {
    const cacheDir = freshCache();
    hub.corrupt.add("onnx/model.onnx");
    try {
      const e = await pullError(pull({ cacheDir }));
      expect(e.kind).toBe("corrupt");
      expect(e.message).toContain("onnx/model.onnx");
      expect(e.message).toContain("sha256");
      const onnx = hub.repos.get("test-org/tiny-onnx")!.files.get("onnx/model.onnx")!;
      const blobs = join(repoFolder(cacheDir, "test-org/tiny-onnx"), "blobs");
      expect(existsSync(join(blobs, onnx.lfs!.oid))).toBe(false);
      expect(existsSync(join(blobs, `${onnx.lfs!.oid}.incomplete`))).toBe(false);
    } finally {
      hub.corrupt.delete("onnx/model.onnx");
    }
  });

  test("gated repo: without a token one line naming the model page and the token setting", async () => {
    const e = await pullError(pull({ repo: "test-org/gated-onnx" }));
    expect(e.kind).toBe("auth");
    expect(e.message).toContain(`${hub.url}/test-org/gated-onnx`);
    expect(e.message).toContain("api_key or HF_TOKEN");
    expect(e.message).toContain("401");
    expect(e.message.split("\n").length).toBe(1);
  });

  test("gated repo: a token without access is a 403 with the same advice; never in the message", async () => {
    const e = await pullError(pull({ repo: "test-org/gated-onnx", token: UNGRANTED }));
    expect(e.kind).toBe("auth");
    expect(e.message).toContain("403");
    expect(e.message).toContain(`${hub.url}/test-org/gated-onnx`);
    expect(e.message).not.toContain(UNGRANTED);
  });

  test("gated repo with a granted token pulls; the token goes to the hub only, never to the CDN", async () => {
    const before = hub.requests.length;
    const r = await pull({ repo: "test-org/gated-onnx", token: TOKEN });
    expect(existsSync(join(r.dir, "onnx/model.onnx"))).toBe(true);
    const reqs = hub.requests.slice(before);
    expect(reqs.filter((q) => q.origin === "hub").every((q) => q.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(reqs.filter((q) => q.origin === "cdn").length).toBeGreaterThan(0);
    expect(reqs.filter((q) => q.origin === "cdn").every((q) => q.authorization === undefined)).toBe(true);
  });

  test("404: missing repo (with a token) and missing revision", async () => {
    const repo = await pullError(pull({ repo: "test-org/no-such-model", token: TOKEN }));
    expect(repo.kind).toBe("not_found");
    expect(repo.message).toBe(`repository test-org/no-such-model not found at ${hub.url}`);
    const anon = await pullError(pull({ repo: "test-org/no-such-model" }));
    expect(anon.message).toContain("not found");
    expect(anon.message).toContain("private");
    const rev = await pullError(pull({ revision: "no-such-branch" }));
    expect(rev.message).toBe(`revision "no-such-branch" not found in test-org/tiny-onnx at ${hub.url}`);
  });

  test("hub unreachable: one line naming the endpoint", async () => {
    const down = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const endpoint = `http://127.0.0.1:${down.port}`;
    await down.stop(true);
    const e = await pullError(pull({ endpoint }));
    expect(e.kind).toBe("unreachable");
    expect(e.message).toContain(`cannot reach the Hugging Face hub at ${endpoint}`);
    expect(e.message).toContain("HF_ENDPOINT");
  });

  test("two pulls of the same repo at once both succeed with one copy of each blob", async () => {
    const cacheDir = freshCache();
    const [a, b] = await Promise.all([pull({ cacheDir }), pull({ cacheDir })]);
    expect(a.dir).toBe(b.dir);
    expect(a.fetched + b.fetched).toBe(a.fetched || b.fetched); // only one of them downloaded
    for (const f of hub.repos.get("test-org/tiny-onnx")!.files.values()) expect(sha(join(a.dir, f.path))).toBe(sha256Hex(f.bytes));
  });

  test("include patterns select files", async () => {
    const r = await pull({ include: ["*.json"] });
    expect(existsSync(join(r.dir, "config.json"))).toBe(true);
    expect(existsSync(join(r.dir, "onnx"))).toBe(false);
    const none = await pullError(pull({ include: ["*.gguf"] }));
    expect(none.kind).toBe("no_files");
  });

  test("disk full: one line, the partial file kept for resume", async () => {
    const cacheDir = freshCache();
    const onnx = hub.repos.get("test-org/tiny-onnx")!.files.get("onnx/model.onnx")!;
    const blobs = join(repoFolder(cacheDir, "test-org/tiny-onnx"), "blobs");
    mkdirSync(blobs, { recursive: true });
    // Writes to /dev/full fail with ENOSPC, as on a full disk.
    symlinkSync("/dev/full", join(blobs, `${onnx.lfs!.oid}.incomplete`));
    const e = await pullError(pull({ cacheDir }));
    expect(e.kind).toBe("disk_full");
    expect(e.message).toStartWith(`disk full writing ${join(blobs, onnx.lfs!.oid)}.incomplete`);
    expect(e.message).toContain("kept for resume");
    expect(lstatSync(join(blobs, `${onnx.lfs!.oid}.incomplete`)).isSymbolicLink()).toBe(true);
    expect(existsSync(join(blobs, onnx.lfs!.oid))).toBe(false);
  });

  test("a lock left by a dead process is taken over", async () => {
    const cacheDir = freshCache();
    const dead = Bun.spawnSync([process.execPath, "-e", "0"]).pid;
    const onnx = hub.repos.get("test-org/tiny-onnx")!.files.get("onnx/model.onnx")!;
    const locks = join(cacheDir, ".locks", "models--test-org--tiny-onnx");
    mkdirSync(locks, { recursive: true });
    writeFileSync(join(locks, `${onnx.lfs!.oid}.lock`), String(dead));
    const r = await pull({ cacheDir });
    expect(sha(join(r.dir, "onnx/model.onnx"))).toBe(onnx.lfs!.oid);
    expect(existsSync(join(locks, `${onnx.lfs!.oid}.lock`))).toBe(false);
  });
});

test("on a terminal: a bar per file and a total line with bytes, rate and ETA", async () => {
  let out = "";
  const tty = { isTTY: true, write: (s: string) => ((out += s), true) } as unknown as NodeJS.WriteStream;
  await pull({ progress: new TerminalProgress(tty) });
  expect(out).toContain("pulling test-org/tiny-onnx:");
  expect(out).toMatch(/\[#+\] onnx\/model\.onnx {2}\d/);
  expect(out).toMatch(/\[#+-*\] total {2}[\d.]+ \w?B\/[\d.]+ \w?B {2}[\d.]+ \w?B\/s {2}ETA /);
});


test("configuredModelState: present after a pull, pullable before, missing with auto_pull off", async () => {
  const { configuredModelState } = await import("../../src/models/status.ts");
  const cacheDir = freshCache();
  const m = { modelId: "test-org/tiny-onnx", path: join(cacheDir, "test-org/tiny-onnx"), local: false, hub: { repo: "test-org/tiny-onnx", revision: undefined } };
  expect(configuredModelState(m, cacheDir, true).state).toBe("pullable");
  expect(configuredModelState(m, cacheDir, false)).toMatchObject({ state: "missing", detail: expect.stringContaining("atoma-node models pull test-org/tiny-onnx") });
  const r = await pull({ cacheDir });
  expect(configuredModelState(m, cacheDir, true)).toEqual({ state: "present", detail: r.dir, dir: r.dir });
  const seed = { modelId: "llama_v2", path: join(cacheDir, "llama_v2"), local: false, hub: { repo: "meta-llama/Llama-2-7b-hf", revision: "main" } };
  expect(configuredModelState(seed, cacheDir, true).state).toBe("pullable");
  const mamba = { modelId: "mamba_130m", path: join(cacheDir, "mamba_130m"), local: false, hub: { repo: "state-spaces/mamba-130m", revision: "refs/pr/1" } };
  expect(configuredModelState(mamba, cacheDir, true).state).toBe("pullable");
});

test("selectForServing: an ONNX repo's metadata plus only the dtype's graph; safetensors refused before download", async () => {
  const { selectForServing } = await import("../../src/models/layout.ts");
  const paths = ["config.json", "tokenizer.json", "tokenizer_config.json", "README.md", "onnx/model.onnx", "onnx/model_q4.onnx", "onnx/model_q4.onnx_data", "onnx/model_fp16.onnx"];
  expect((await selectForServing(paths, "q4")).include).toEqual(["config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model_q4.onnx", "onnx/model_q4.onnx_data"]);
  expect((await selectForServing(paths, "bf16")).include).toContain("onnx/model_fp16.onnx");
  expect((await selectForServing(paths, "q8")).refuse).toContain("onnx/model_quantized.onnx");
  const st = ["config.json", "tokenizer.json", "model.safetensors", "original/consolidated.00.pth", "README.md"];
  expect((await selectForServing(st, "f32", async () => JSON.stringify({ model_type: "rwkv" }))).refuse).toContain("not supported by the converter");
  expect((await selectForServing(st, "f32", async () => JSON.stringify({ model_type: "llama", hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 4, vocab_size: 300 }))).include).toEqual(["config.json", "tokenizer.json", "model.safetensors"]);
});

test("selectForServing: a Mistral AI repo's consolidated.safetensors (mistral_inference's copy of the weights) is not fetched beside the transformers shards", async () => {
  const { selectForServing } = await import("../../src/models/layout.ts");
  // The file list of mistralai/Mistral-7B-Instruct-v0.3-style repos (hub tree pages, docs/models.md "Registry facts").
  const paths = ["config.json", "consolidated.safetensors", "generation_config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json", "params.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model", "tokenizer.model.v3", "tokenizer_config.json"];
  const mistral = { model_type: "mistral", hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 300 };
  const inc = (await selectForServing(paths, "f32", async () => JSON.stringify(mistral))).include!;
  expect(inc).not.toContain("consolidated.safetensors");
  expect(inc.filter((p) => p.endsWith(".safetensors"))).toEqual(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"]);
  expect(inc).toContain("model.safetensors.index.json");
  // A repo whose only weights have another name still converts from them.
  const other = ["config.json", "tokenizer.json", "weights.safetensors"];
  expect((await selectForServing(other, "f32", async () => JSON.stringify(mistral))).include).toEqual(["config.json", "tokenizer.json", "weights.safetensors"]);
});
