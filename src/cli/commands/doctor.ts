/**
 * `atoma-node doctor [--json] [config flags]`: what this machine and build can do — runtime,
 * OS/arch, CPUs, memory, which inference backends really run a session here, GPU adapters — and,
 * when config flags are given, a checklist of what `run` needs: each configured model present and
 * loadable, and in chain mode the signer's key, the full node, the package, `AtomaDb` and the
 * `NodeBadge` owned by the signer (src/models/model-check.ts, src/chain/preflight.ts). Never
 * crashes: every probe failure is reported as data. Exit 2 when the configuration is invalid,
 * 1 when a check fails, 0 only when every check passes.
 */
import { defineCommand } from "citty";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { arch, cpus, platform, release, totalmem } from "node:os";
import { join } from "node:path";
import { configArgs, hasConfigArgs, sourcesFromArgs } from "../../config/cli-args.ts";
import { ConfigError } from "../../config/errors.ts";
import { loadConfig } from "../../config/load.ts";
import type { NodeConfig } from "../../config/types.ts";
import { chainPreflight } from "../../chain/preflight.ts";
import { checkConfiguredModel } from "../../models/model-check.ts";
import { displayUrl } from "../../engine/remote/client.ts";
import { paint } from "../style.ts";
import { DEVICES, type Device } from "../../engine/types.ts";
import { ortRuntimeInfo } from "../../engine/runtime/ort-native.ts";
import { oneLineError } from "../../log/one-line.ts";
import { VERSION } from "../../version.ts";

/** A probe that hangs (a GPU driver stuck in init) must not hang the doctor. */
const PROBE_TIMEOUT_MS = 20_000;

interface BackendReport {
  device: Device;
  available: boolean;
  reason?: string;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface ConfigReport {
  valid: boolean;
  error?: string;
  mode?: "chain" | "local";
  sources?: string[];
  /** `dtypeIgnored`: the configured dtype was not used, and why (a quantized_* row). */
  models?: { id: string; device: Device; dtype: string; path: string; present: boolean; dtypeIgnored?: string }[];
}

export interface DoctorReport {
  version: string;
  runtime: { name: "bun"; version: string; compiledBinary: boolean; binaryTarget?: string };
  os: { platform: string; release: string; arch: string };
  cpus: { count: number; model: string };
  memoryGiB: number;
  backends: BackendReport[];
  gpuAdapters: string[];
  config?: ConfigReport;
  /** With config flags: what `run` needs, in order; absent when the configuration is invalid. */
  checks?: Check[];
  /** Every check passed (and the configuration is valid). */
  ok?: boolean;
}

export default defineCommand({
  meta: { name: "doctor", description: "Report runtime, inference backends, GPU adapters and config validity" },
  args: {
    json: { type: "boolean", default: false, description: "Print one JSON object" },
    ...configArgs,
  },
  async run({ args }) {
    const report = await diagnose(args);
    if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(render(report));
    process.exit(report.config && !report.config.valid ? 2 : report.ok === false ? 1 : 0);
  },
});

async function diagnose(args: Record<string, string | boolean | string[] | undefined>): Promise<DoctorReport> {
  const cpuList = cpus();
  const ort = ortRuntimeInfo();
  const backends: BackendReport[] = [];
  for (const device of DEVICES) backends.push(await probe(device));
  const webgpu = backends.find((b) => b.device === "webgpu");
  const sources = sourcesFromArgs(args);
  const loaded = hasConfigArgs(sources) ? checkConfig(sources) : undefined;
  const checks = loaded?.config ? await checklist(loaded.config) : undefined;
  return {
    version: VERSION,
    runtime: { name: "bun", version: Bun.version, compiledBinary: ort.compiled, binaryTarget: ort.target },
    os: { platform: platform(), release: release(), arch: arch() },
    cpus: { count: cpuList.length, model: cpuList[0]?.model.trim() ?? "unknown" },
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    backends,
    gpuAdapters: [...(webgpu?.available ? ["WebGPU adapter (onnxruntime-node)"] : []), ...hardwareGpus()],
    config: loaded?.report,
    ...(loaded ? { checks, ok: loaded.report.valid && (checks ?? []).every((c) => c.ok) } : {}),
  };
}

async function probe(device: Device): Promise<BackendReport> {
  try {
    // Loaded lazily: importing the engine pulls in ONNX Runtime, which `--version` never needs.
    const { probeDevice } = await import("../../engine/backends.ts");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((r) => (timer = setTimeout(() => r(`probe timed out after ${PROBE_TIMEOUT_MS} ms`), PROBE_TIMEOUT_MS)));
    const reason = await Promise.race([probeDevice(device), timeout]);
    clearTimeout(timer);
    return reason === null ? { device, available: true } : { device, available: false, reason: oneLineError(reason, 200) };
  } catch (e) {
    return { device, available: false, reason: oneLineError(e, 200) };
  }
}

/** GPUs the OS exposes (independent of whether a backend can use them). Linux only; best effort. */
function hardwareGpus(): string[] {
  const out: string[] = [];
  try {
    const nvidia = "/proc/driver/nvidia/gpus";
    if (existsSync(nvidia)) {
      for (const bus of readdirSync(nvidia)) {
        const info = readFileSync(join(nvidia, bus, "information"), "utf8");
        const model = /^Model:\s*(.+)$/m.exec(info)?.[1]?.trim();
        out.push(`NVIDIA ${model ?? "GPU"} (${bus})`);
      }
    }
  } catch {
    // Unreadable driver files: report what was found so far.
  }
  try {
    const drm = "/sys/class/drm";
    if (out.length === 0 && existsSync(drm)) {
      const vendors: Record<string, string> = { "0x10de": "NVIDIA", "0x1002": "AMD", "0x8086": "Intel" };
      for (const node of readdirSync(drm).filter((n) => /^renderD\d+$/.test(n))) {
        const vendor = readFileSync(join(drm, node, "device", "vendor"), "utf8").trim();
        out.push(`${vendors[vendor] ?? `vendor ${vendor}`} GPU (/dev/dri/${node})`);
      }
    }
  } catch {
    // No DRM information: nothing to add.
  }
  return out;
}

/** What `run` needs, in the order it needs it. */
async function checklist(config: NodeConfig): Promise<Check[]> {
  const checks: Check[] = [];
  if (config.inference.models.length === 0) checks.push({ name: "models", ok: false, detail: "no model configured ([inference] models is empty): the node would serve nothing" });
  for (const m of config.inference.models) {
    if (m.remote) {
      // Loaded lazily like the engine: doctor without a config never needs it.
      const { remoteModelChecks } = await import("../../engine/remote/index.ts");
      checks.push(...(await remoteModelChecks(m.modelId, m.remote)));
    } else checks.push(await checkConfiguredModel(m, config.inference));
  }
  if (config.eventSubscriber && config.client) checks.push(...(await chainPreflight(config.eventSubscriber, config.client)));
  return checks;
}

function checkConfig(sources: ReturnType<typeof sourcesFromArgs>): { report: ConfigReport; config?: NodeConfig } {
  try {
    const c = loadConfig(sources);
    const report: ConfigReport = {
      valid: true,
      mode: c.eventSubscriber ? "chain" : "local",
      sources: c.sources,
      // A hub model (seed model_type or org/name) is named by its repo; the checklist says whether it is cached.
      models: c.inference.models.map((m) => {
        if (m.remote) return { id: m.modelId, device: m.device, dtype: m.dtype, path: `${m.remote.kind} at ${m.remote.urls.map(displayUrl).join(", ")}`, present: true };
        const path = m.local || !m.hub ? m.path : `${m.hub.repo}${m.hub.revision ? `@${m.hub.revision}` : ""} in ${c.inference.cacheDir}`;
        return { id: m.modelId, device: m.device, dtype: m.dtype, path, present: m.local || !m.hub ? existsSync(m.path) : true, ...(m.dtypeIgnored ? { dtypeIgnored: m.dtypeIgnored } : {}) };
      }),
    };
    return { report, config: c };
  } catch (e) {
    if (e instanceof ConfigError) return { report: { valid: false, error: e.message } };
    return { report: { valid: false, error: oneLineError(e, 200) } };
  }
}

function render(r: DoctorReport): string {
  const rows: [string, string][] = [
    ["version", r.version],
    ["runtime", `Bun ${r.runtime.version}${r.runtime.compiledBinary ? ` (compiled binary, ${r.runtime.binaryTarget ?? "?"})` : " (from source)"}`],
    ["os/arch", `${r.os.platform} ${r.os.release} ${r.os.arch}`],
    ["cpus", `${r.cpus.count} × ${r.cpus.model}`],
    ["memory", `${r.memoryGiB} GiB`],
    ["backends", r.backends.filter((b) => b.available).map((b) => b.device).join(", ") || "none"],
  ];
  for (const b of r.backends) rows.push([`  ${b.device}`, b.available ? "ok" : `unavailable: ${b.reason}`]);
  rows.push(["gpu adapters", r.gpuAdapters.join("; ") || "none"]);
  if (r.config) {
    const c = r.config;
    rows.push(["config", c.valid ? `valid (${c.mode} mode; ${c.sources?.join(", ")})` : `INVALID: ${c.error}`]);
    for (const m of c.models ?? []) {
      rows.push([`  model ${m.id}`, `${m.device}/${m.dtype} ${m.path}${m.present ? "" : " (missing)"}`]);
      if (m.dtypeIgnored) rows.push(["", `  ${m.dtypeIgnored}`]);
    }
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  let out = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n";
  if (r.checks) {
    const w = Math.max(...r.checks.map((c) => c.name.length));
    out += "\nwhat run needs:\n";
    for (const c of r.checks) out += `  ${c.ok ? paint.green("[ok]  ") : paint.red("[FAIL]")} ${c.name.padEnd(w)}  ${c.detail}\n`;
    const failed = r.checks.filter((c) => !c.ok);
    out += failed.length === 0
      ? paint.green(`all ${r.checks.length} check${r.checks.length === 1 ? "" : "s"} passed`) + "\n"
      : paint.red(`${failed.length} of ${r.checks.length} checks failed: ${failed.map((c) => c.name).join(", ")}`) + "\n";
  }
  return out;
}
