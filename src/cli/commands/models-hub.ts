/**
 * `atoma-node models list [--json]` and `atoma-node models pull <model_type | org/name[@rev]>`.
 * The cache is `--cache-dir`, else the configuration's `cache_dir` (with --config), else the
 * hub's default (HF_HUB_CACHE / HF_HOME). Errors print one line and exit 2.
 */
import { defineCommand, type ArgsDef } from "citty";
import { configArgs, hasConfigArgs, sourcesFromArgs } from "../../config/cli-args.ts";
import { fail } from "../fail.ts";
import type { ModelEntry } from "../../config/types.ts";
import type { Device } from "../../engine/types.ts";

type Args = Record<string, string | boolean | string[] | undefined>;

const cacheArgs = {
  "cache-dir": { type: "string", description: "Hub cache folder (default: cache_dir from --config, else HF_HUB_CACHE / $HF_HOME/hub / ~/.cache/huggingface/hub)" },
  ...configArgs,
  // citty wants a mutable alias array.
  config: { ...configArgs.config, alias: [...configArgs.config.alias] },
} satisfies ArgsDef;

/** cache_dir and api_key: flags, else the configuration (when one is named), else the hub's defaults;
 * with a configuration also its models (pull converts a configured model to the entry's dtype). */
async function settings(args: Args): Promise<{ cacheDir: string; apiKey: string | undefined; models?: ModelEntry[] }> {
  const { defaultHubCache } = await import("../../models/hub-cache.ts");
  const { resolvePath } = await import("../../config/fields.ts");
  const flag = typeof args["cache-dir"] === "string" ? resolvePath(args["cache-dir"], process.cwd()) : undefined;
  const sources = sourcesFromArgs(args);
  if (!hasConfigArgs(sources)) return { cacheDir: flag ?? defaultHubCache(), apiKey: undefined };
  const { loadConfig } = await import("../../config/load.ts");
  const { ConfigError } = await import("../../config/errors.ts");
  try {
    const c = loadConfig(sources);
    return { cacheDir: flag ?? c.inference.cacheDir, apiKey: c.inference.apiKey, models: c.inference.models };
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

const list = defineCommand({
  meta: { name: "list", description: "Every seed model_type: architecture, source, precisions, cached, status (ready / pullable / unsupported: why)" },
  args: { json: { type: "boolean", description: "One JSON array", default: false }, ...cacheArgs },
  async run({ args }) {
    const { cacheDir } = await settings(args as Args);
    const { REGISTRY } = await import("../../models/registry.ts");
    const { rowState } = await import("../../models/status.ts");
    const rows = REGISTRY.map((r) => {
      const s = rowState(r, cacheDir);
      return {
        model_type: r.modelType,
        architecture: r.family,
        source: r.source,
        precisions: r.precisions,
        cached: s.cached,
        status: s.status,
        repo: r.repo,
        revision: r.revision ?? null,
        context_length: r.contextLength,
        gated: r.gated,
        ...(s.dir ? { dir: s.dir } : {}),
      };
    });
    if (args.json) {
      process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
      return;
    }
    const table = [
      ["MODEL_TYPE", "ARCHITECTURE", "SOURCE", "PRECISIONS", "CACHED", "STATUS"],
      ...rows.map((r) => [r.model_type, r.architecture, r.source, r.precisions.join(","), r.cached ? "yes" : "no", r.status]),
    ];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) process.stdout.write(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  ") + "\n");
    process.stderr.write(`cache: ${cacheDir}\n`);
  },
});

const pull = defineCommand({
  meta: { name: "pull", description: "Download a seed model_type or any org/name[@revision] repo into the hub cache" },
  args: {
    model: { type: "positional", description: "A seed model_type (see models list) or org/name[@revision]", required: false },
    include: { type: "string", description: "Only files matching these comma-separated patterns (* within a path segment)" },
    dtype: { type: "string", description: "ONNX repo: fetch only this precision's graph (default: every graph); safetensors repo: convert to it (default: the --config entry's dtype, else f32 for --device cpu/wasm, f16 for webgpu/cuda — what generate and run load). f32, f16, bf16, q8, q4, q4f16" },
    device: { type: "string", description: "The device the model will run on, for the default --dtype: cpu | wasm | webgpu | cuda (default: the --config entry's, else cpu)" },
    ...cacheArgs,
  },
  async run({ args }) {
    const spec = typeof args.model === "string" ? args.model : undefined;
    if (!spec) fail("missing model: atoma-node models pull <model_type | org/name[@revision]> (see atoma-node models list)");
    const { cacheDir, apiKey, models } = await settings(args as Args);
    const { parseRepoRef, hubEndpoint, formatRepoRef } = await import("../../models/hub-cache.ts");
    const { registryRow } = await import("../../models/registry.ts");
    const { resolveToken } = await import("../../models/token.ts");
    const { pullRepo } = await import("../../models/pull.ts");
    const { PullError } = await import("../../models/pull-errors.ts");
    const { progressFor } = await import("../../models/progress.ts");
    const { selectForServing, layoutOfDir, isRunnable } = await import("../../models/layout.ts");
    const { convertedDir, convertSnapshot } = await import("../../models/convert-seam.ts");
    const { repoFolder } = await import("../../models/hub-cache.ts");
    const { basename } = await import("node:path");
    const { parseDtype } = await import("../../engine/dtype.ts");
    const { rowState } = await import("../../models/status.ts");
    const row = registryRow(spec);
    const ref = row ? { repo: row.repo, revision: row.revision } : parseRepoRef(spec);
    if (!ref) fail(`${JSON.stringify(spec)} is neither a seed model_type (see atoma-node models list) nor an org/name[@revision] repo`);
    const { DEVICES } = await import("../../engine/types.ts");
    const { defaultDtype } = await import("../../models/default-dtype.ts");
    // A model the configuration serves is converted to what run will load; otherwise the default rule.
    const entry = models?.find((m) => m.modelId === spec);
    let wanted;
    try {
      wanted = typeof args.dtype === "string" ? parseDtype(args.dtype) : entry?.dtype;
    } catch (e) {
      fail(`--dtype: ${(e as Error).message}`);
    }
    if (typeof args.device === "string" && !(DEVICES as readonly string[]).includes(args.device)) fail(`--device ${JSON.stringify(args.device)}: expected one of ${DEVICES.join(", ")}`);
    const device: Device = typeof args.device === "string" ? (args.device as Device) : (entry?.device ?? "cpu");
    const dtype = wanted ?? defaultDtype(device, row);
    const explicit = typeof args.include === "string" ? args.include.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
    const endpoint = hubEndpoint();
    const token = resolveToken(apiKey);
    // Without --include: only what the node can serve (an ONNX repo's graphs, or a safetensors repo
    // the converter accepts — asked before any weights are fetched).
    // A quantized row (spec §10.1): its one file as listed, the tokenizer from another repo, then imported.
    const quantized = row?.quantized ? await import("../../models/quantized.ts") : undefined;
    // An ONNX repo without a named dtype: every graph (each precision is then served without a pull).
    const select = explicit || quantized ? undefined : (p: string[], readText: (path: string) => Promise<string>) => selectForServing(p, wanted, readText);
    const pulls = [{ ref, include: explicit ?? row?.files, select }];
    if (row && quantized) pulls.push({ ref: quantized.tokenizerRef(row)!, include: quantized.TOKENIZER_FILES, select: undefined });
    // A safetensors row whose repo has no tokenizer (the original Mamba checkpoints): its tokenizer repo too.
    const { TOKENIZER_FILES } = await import("../../models/quantized.ts");
    if (row?.tokenizerRepo && !explicit) pulls.push({ ref: { repo: row.tokenizerRepo, revision: undefined }, include: TOKENIZER_FILES, select: undefined });
    try {
      let dir = "";
      let commit = "";
      const pulled: string[] = [];
      for (const p of pulls) {
        const r = await pullRepo({ ...p, cacheDir, endpoint, token, progress: progressFor() });
        if (!dir) [dir, commit] = [r.dir, r.commit];
        pulled.push(r.dir);
        process.stderr.write(`pulled ${formatRepoRef(p.ref)} (commit ${r.commit.slice(0, 12)}): ${r.files} file(s), ${r.bytes} bytes, ${r.fetched} fetched\n`);
      }
      if (row && quantized && !explicit) {
        const out = quantized.quantizedOutDir(cacheDir, row, commit, dtype);
        dir = await quantized.importQuantizedRow(row, pulled[0]!, pulled[1]!, out, { dtype, cacheDir, log: (l) => process.stderr.write(`${l}\n`) });
      }
      const layout = layoutOfDir(dir);
      if (!explicit && (layout === "safetensors" || layout === "diffusers")) {
        // Handed to the converter: the folder generate/run load is the converted one.
        const out = convertedDir(cacheDir, basename(repoFolder(cacheDir, ref.repo)), commit, dtype);
        dir = isRunnable(layoutOfDir(out)) ? out : await convertSnapshot(cacheDir, dir, out, dtype, row?.tokenizerRepo ? pulled[1] : undefined);
      }
      if (row) process.stderr.write(`${row.modelType}: ${rowState(row, cacheDir).status}\n`);
      process.stdout.write(dir + "\n");
    } catch (e) {
      const { ConvertError } = await import("../../convert/index.ts");
      if (e instanceof ConvertError) fail(e.message);
      if (e instanceof PullError && e.isInputError) fail(e.message);
      if (e instanceof PullError) {
        process.stderr.write(`error: ${e.message}\n`);
        process.exit(1);
      }
      throw e;
    }
  },
});

export const hubCommands = { list, pull };
