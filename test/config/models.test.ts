import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { catalogEntry, isKnownModelType, MODEL_CATALOG } from "../../src/config/model-catalog.ts";
import { fixtures, merged } from "./helpers.ts";

const { tomlFile } = fixtures();

const env = { env: {}, cwd: "/work" };

function modelsOf(modelsToml: string) {
  const inference = `cache_dir = "/cache"\njrpc_port = 3000\n${modelsToml}\n`;
  return loadConfig({ config: tomlFile(merged({ inference, subscriber: null, client: null })) }, env).inference.models;
}

function errorOf(modelsToml: string): string {
  const file = tomlFile(merged({ inference: `cache_dir = "/cache"\njrpc_port = 3000\n${modelsToml}\n`, subscriber: null, client: null }));
  try {
    loadConfig({ config: file }, env);
  } catch (e) {
    return (e as Error).message.slice(file.length + 2);
  }
  throw new Error("expected an error");
}

describe("models: the three spellings", () => {
  test("4-element README form [device, precision, model_type, use_flash_attention]", () => {
    expect(modelsOf(`models = [[0, "bf16", "mamba_370m", false], [1, "f16", "qwen_w0.5b", true]]`)).toEqual([
      { deviceIds: [0], dtype: "bf16", modelId: "mamba_370m", revision: "", useFlashAttention: false, device: "cpu", path: "/cache/mamba_370m", local: false, hub: { repo: "state-spaces/mamba-370m", revision: "refs/pr/1" } },
      { deviceIds: [1], dtype: "f16", modelId: "qwen_w0.5b", revision: "", useFlashAttention: true, device: "cpu", path: "/cache/qwen_w0.5b", local: false, hub: { repo: "Qwen/Qwen1.5-0.5B", revision: "main" } },
    ]);
  });

  test("5-element reference form, element 1 an integer (seed era) or an array (from 2024-06-18)", () => {
    expect(modelsOf(`models = [[0, "bf16", "mamba_370m", "", false], [[2], "f32", "llama3_8b", "refs/pr/1", true]]`)).toEqual([
      { deviceIds: [0], dtype: "bf16", modelId: "mamba_370m", revision: "", useFlashAttention: false, device: "cpu", path: "/cache/mamba_370m", local: false, hub: { repo: "state-spaces/mamba-370m", revision: "refs/pr/1" } },
      { deviceIds: [2], dtype: "f32", modelId: "llama3_8b", revision: "refs/pr/1", useFlashAttention: true, device: "cpu", path: "/cache/llama3_8b", local: false, hub: { repo: "meta-llama/Meta-Llama-3-8B", revision: "main" } },
    ]);
  });

  test("array of tables with device_id, device_ids, our device and path", () => {
    const models = modelsOf(`
[[inference.models]]
device_id = 0
dtype = "f16"
model_id = "llama_tiny_llama_1_1b_chat"
revision = "main"
use_flash_attention = true

[[inference.models]]
device_ids = [1]
dtype = "q4"
model_id = "my-custom-model"
device = "webgpu"
path = "models/custom"
future_key = "ignored"

[[inference.models]]
dtype = "q4f16"
model_id = "phi_3-mini"
device = "wasm"
`);
    expect(models).toEqual([
      { deviceIds: [0], dtype: "f16", modelId: "llama_tiny_llama_1_1b_chat", revision: "main", useFlashAttention: true, device: "cpu", path: "/cache/llama_tiny_llama_1_1b_chat", local: false, hub: { repo: "TinyLlama/TinyLlama-1.1B-Chat-v1.0", revision: "main" } },
      { deviceIds: [1], dtype: "q4", modelId: "my-custom-model", revision: "", useFlashAttention: false, device: "webgpu", path: "/work/models/custom", local: true, hub: undefined },
      { deviceIds: [0], dtype: "q4f16", modelId: "phi_3-mini", revision: "", useFlashAttention: false, device: "wasm", path: "/cache/phi_3-mini", local: false, hub: { repo: "microsoft/Phi-3-mini-4k-instruct", revision: "main" } },
    ]);
  });

  test("every dtype is accepted", () => {
    for (const d of ["f32", "f16", "bf16", "q8", "q4", "q4f16"]) {
      expect(modelsOf(`models = [[0, "${d}", "llama_v2", false]]`)[0]!.dtype).toBe(d as never);
    }
  });

  test("empty models array is allowed (a node with nothing to serve yet)", () => {
    expect(modelsOf("models = []")).toEqual([]);
  });
});

describe("models: a table without dtype gets the default rule models pull and generate use", () => {
  test("f32 on cpu/wasm, f16 on webgpu/cuda, a quantized row's own file precision; an explicit dtype wins", () => {
    const got = modelsOf([
      `[[inference.models]]\nmodel_id = "llama_v2"`,
      `[[inference.models]]\nmodel_id = "phi_3-mini"\ndevice = "webgpu"`,
      `[[inference.models]]\nmodel_id = "qwen_w0.5b"\ndevice = "cuda"`,
      `[[inference.models]]\nmodel_id = "mamba_130m"\ndevice = "wasm"`,
      `[[inference.models]]\nmodel_id = "quantized_7b-code"`,
      `[[inference.models]]\nmodel_id = "quantized_7b"\ndevice = "webgpu"`,
      `[[inference.models]]\nmodel_id = "falcon_7b"\ndevice = "webgpu"\ndtype = "f32"`,
    ].join("\n")).map((m) => [m.modelId, m.dtype]);
    expect(got).toEqual([["llama_v2", "f32"], ["phi_3-mini", "f16"], ["qwen_w0.5b", "f16"], ["mamba_130m", "f32"], ["quantized_7b-code", "q8"], ["quantized_7b", "q4"], ["falcon_7b", "f32"]]);
  });

  test("a folder on a GPU: f16 when it holds onnx/model_fp16.onnx, else f32 (nothing is converted for a folder)", () => {
    const dir = mkdtempSync(join(tmpdir(), "atoma-dtype-"));
    mkdirSync(join(dir, "fp32", "onnx"), { recursive: true });
    writeFileSync(join(dir, "fp32", "onnx", "model.onnx"), "");
    mkdirSync(join(dir, "both", "onnx"), { recursive: true });
    writeFileSync(join(dir, "both", "onnx", "model.onnx"), "");
    writeFileSync(join(dir, "both", "onnx", "model_fp16.onnx"), "");
    const got = modelsOf([
      `[[inference.models]]\nmodel_id = "a"\npath = "${join(dir, "fp32")}"\ndevice = "webgpu"`,
      `[[inference.models]]\nmodel_id = "b"\npath = "${join(dir, "both")}"\ndevice = "webgpu"`,
      `[[inference.models]]\nmodel_id = "c"\npath = "${join(dir, "both")}"`,
    ].join("\n")).map((m) => m.dtype);
    rmSync(dir, { recursive: true, force: true });
    expect(got).toEqual(["f32", "f16", "f32"]);
  });
});

describe("models: dtype on a quantized_* row (a pre-quantized GGUF/GGML file) is ignored, as the protocol says", () => {
  test("the file's own precision is served and the entry says why, in every spelling; a folder given by path keeps its dtype", () => {
    const dir = mkdtempSync(join(tmpdir(), "atoma-qdtype-"));
    const got = modelsOf([
      `models = [[0, "f16", "quantized_7b", false]]`,
    ].join("\n")).concat(modelsOf([
      `[[inference.models]]\nmodel_id = "quantized_7b-code"\ndtype = "f32"`,
      `[[inference.models]]\nmodel_id = "quantized_7b-leo"\ndtype = "q4"`,
      `[[inference.models]]\nmodel_id = "quantized_13b"\npath = "${dir}"\ndtype = "f32"`,
    ].join("\n")));
    rmSync(dir, { recursive: true, force: true });
    expect(got.map((m) => [m.modelId, m.dtype])).toEqual([["quantized_7b", "q4"], ["quantized_7b-code", "q8"], ["quantized_7b-leo", "q4"], ["quantized_13b", "f32"]]);
    expect(got[0]!.dtypeIgnored).toBe(`configured dtype "f16" ignored: quantized_7b is a pre-quantized checkpoint (llama-2-7b.ggmlv3.q4_0.bin), served at the file's own precision q4 (dtype does not apply to quantized_* rows)`);
    expect(got[1]!.dtypeIgnored).toMatch(/^configured dtype "f32" ignored: quantized_7b-code .*codellama-7b\.Q8_0\.gguf.* q8/);
    // The file's own precision named again, or the operator's own folder: nothing ignored.
    expect(got[2]!.dtypeIgnored).toBeUndefined();
    expect(got[3]!.dtypeIgnored).toBeUndefined();
  });
});

describe("models: bad entries", () => {
  test.each([
    [`models = "llama_v2"`, `inference.models: got string "llama_v2", expected an array of [device, precision, model_type, use_flash_attention], [device_ids, dtype, model_id, revision, use_flash_attention] or [[models]] tables`],
    [`models = [[[], "f32", "llama_v2", "", false]]`, `inference.models[0][0]: empty array, expected a device id (integer >= 0) or an array with one device id`],
    [`models = [[[0, 1], "f32", "llama_v2", "", false]]`, `inference.models[0][0]: 2 device ids (no tensor parallelism), expected exactly one device id`],
    [`models = [["0", "f32", "llama_v2", false]]`, `inference.models[0][0]: got string "0", expected a device id (integer >= 0) or an array with one device id`],
    [`models = [[0, "f32", 7, false]]`, `inference.models[0][2]: got integer 7, expected a model_type name`],
    [`models = [[0, "f32", "llama_v2", 1, false]]`, `inference.models[0][3]: got integer 1, expected a revision string (may be empty)`],
    [`models = [[0, "f32", "llama_v2", "", "yes"]]`, `inference.models[0][4]: got string "yes", expected use_flash_attention true or false`],
    [`models = [[0, "f32", "llama_v2", false], [0, "f16", "llama_v2", false]]`, `inference.models[1]: model "llama_v2" is also configured at models[0], expected each model served once`],
    [`[[inference.models]]\ndtype = "f32"\nmodel_id = "custom"`, `inference.models[0].model_id: unknown model_type "custom", expected a seed model_type (see atoma-node models list), an org/name[@revision] Hugging Face repo, a folder (./dir), or a [[models]] table with an explicit path`],
    [`[[inference.models]]\ndtype = "f32"`, `inference.models[0].model_id: missing, expected a string`],
    [`[[inference.models]]\nmodel_id = "llama_v2"\ndtype = "fp16"`, `inference.models[0].dtype: got string "fp16", expected one of "f32", "f16", "bf16", "q8", "q4", "q4f16"`],
    [`[[inference.models]]\ndtype = "f32"\nmodel_id = "llama_v2"\ndevice = "rocm"`, `inference.models[0].device: got string "rocm", expected one of "cpu", "webgpu", "cuda", "wasm"`],
    [`[[inference.models]]\ndtype = "f32"\nmodel_id = "llama_v2"\nmax_batch = 0`, `inference.models[0].max_batch: 0 is out of range, expected an integer 1 … 64`],
    [`[[inference.models]]\ndtype = "f32"\nmodel_id = "llama_v2"\nmax_batch = "8"`, `inference.models[0].max_batch: got string "8", expected an integer 1 … 64`],
    [`[[inference.models]]\ndtype = "f32"\nmodel_id = "llama_v2"\ndevice_id = 0\ndevice_ids = [0]`, `inference.models[0].device_ids: both device_id and device_ids given, expected only one of them`],
    [`[[inference.models]]\ndtype = "f32"\nmodel_id = "llama_v2"\ndevice_ids = [0, 1]`, `inference.models[0].device_ids: 2 device ids (no tensor parallelism), expected exactly one device id`],
    [`[[inference.models]]\ndtype = "f32"\nmodel_id = "llama_v2"\nuse_flash_attention = 1`, `inference.models[0].use_flash_attention: got integer 1, expected true or false`],
    [`[[inference.models]]\ndtype = "f32"\nmodel_id = "x"\npath = 3`, `inference.models[0].path: got integer 3, expected a string`],
  ])("%s", (toml, message) => {
    expect(errorOf(toml)).toBe(message);
  });
});

describe("model catalog (spec §10.1)", () => {
  test("has every seed model_type once", () => {
    expect(MODEL_CATALOG.length).toBe(62);
    expect(new Set(MODEL_CATALOG.map((e) => e.modelType)).size).toBe(62);
  });

  test("rows carry repo, revision, family and quantized files", () => {
    expect(catalogEntry("falcon_7b")).toEqual({ modelType: "falcon_7b", repo: "tiiuae/falcon-7b", revision: "refs/pr/43", family: "falcon", task: "text-generation", transformersJs: true });
    expect(catalogEntry("mamba_2-8b")?.revision).toBe("refs/pr/4");
    expect(catalogEntry("mixtral_8x7b-v01")?.transformersJs).toBe(false);
    expect(catalogEntry("stable_diffusion_xl")).toMatchObject({ task: "text-to-image", revision: undefined });
    expect(catalogEntry("quantized_70b")?.quantized).toEqual({ file: "llama-2-70b.ggmlv3.q4_0.bin", tokenizerRepo: "hf-internal-testing/llama-tokenizer", ggmlGqa: 8 });
    expect(catalogEntry("quantized_llama3-8b")?.quantized).toEqual({ file: "Meta-Llama-3-8B.Q4_K_S.gguf", tokenizerRepo: "meta-llama/Meta-Llama-3-8B" });
    expect(catalogEntry("quantized_7b-zephyr-b")?.family).toBe("mistral");
    expect(catalogEntry("qwen_moe_a2.7b")?.family).toBe("qwen2_moe");
    expect(isKnownModelType("llama31_instruct405b")).toBe(true);
    expect(isKnownModelType("stories260k")).toBe(false);
  });
});

describe("example files under config/", () => {
  const dir = join(import.meta.dir, "..", "..", "config");
  test("every merged example loads and serves a model", () => {
    const merged = readdirSync(dir).filter((f) => f.endsWith(".toml") && ["atoma-node.toml", "local.toml"].includes(f)).sort();
    expect(merged).toEqual(["atoma-node.toml", "local.toml"]); // a renamed or lost example fails here, not silently
    for (const f of merged) {
      const c = loadConfig({ config: join(dir, f) }, env);
      expect({ f, models: c.inference.models.length > 0, port: c.inference.jrpcPort > 0 }).toEqual({ f, models: true, port: true });
    }
  });
  test("the seed-era trio loads and equals the merged example", () => {
    const seed = loadConfig(
      {
        modelConfigPath: join(dir, "model-config.toml"),
        suiSubscriberPath: join(dir, "sui-subscriber.toml"),
        atomaSuiClientConfigPath: join(dir, "atoma-sui-client.toml"),
      },
      env,
    );
    const one = loadConfig({ config: join(dir, "atoma-node.toml") }, env);
    expect({ ...seed, sources: [] }).toEqual({ ...one, sources: [] });
  });
  test("local.toml is local mode serving stories260k from .state/models/stories260k", () => {
    const c = loadConfig({ config: join(dir, "local.toml") }, env);
    expect(c.eventSubscriber).toBeUndefined();
    expect(c.inference.models).toEqual([
      { deviceIds: [0], dtype: "f32", modelId: "stories260k", revision: "", useFlashAttention: false, device: "cpu", path: "/work/.state/models/stories260k", local: true, hub: undefined },
    ]);
    expect(c.inference.jrpcHost).toBe("127.0.0.1");
  });
});
