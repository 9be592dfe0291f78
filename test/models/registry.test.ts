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

test("every row has a precise status reason or none", () => {
  for (const r of REGISTRY) {
    const why = rowBlocker(r);
    if (why !== undefined) expect(why.length).toBeGreaterThan(10);
  }
});
