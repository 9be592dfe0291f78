/**
 * Backend discovery and selection. transformers.js binds ONE ONNX Runtime per process at import
 * time: onnxruntime-node by default (`cpu`, `webgpu`), or onnxruntime-web when
 * `globalThis[Symbol.for("onnxruntime")]` is set before the import (`wasm`, runtime-notes §4.2).
 * So the first model loaded in a process fixes the runtime family; mixing `wasm` with
 * `cpu`/`webgpu` in one process is refused with a clear error (run a second process instead).
 *
 * Availability is detected by actually creating a session on a 69-byte Identity model, because
 * e.g. onnxruntime-node always lists `webgpu` but only fails once it looks for an adapter.
 *
 * In the compiled binary, onnxruntime-node comes through src/engine/runtime/ort-native.ts (which
 * pre-loads the embedded `libonnxruntime`, runtime-notes §6.3) and the wasm files are the embedded
 * copies; from source both resolve from node_modules.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { embeddedOrtWebPaths, loadOrtNode } from "./runtime/ort-native.ts";
import { oneLineError } from "../log/one-line.ts";
import { engineLog } from "./log.ts";
import { DEVICES, EngineError, type Device } from "./types.ts";

type Transformers = typeof import("@huggingface/transformers");
type RuntimeFamily = "node" | "web";

/** Identity float[1] → float[1], opset 13 (generated once with onnx-proto). */
const PROBE_MODEL = Uint8Array.from(
  atob("CAc6OwoQCgF4EgF5IghJZGVudGl0eRIFcHJvYmVaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAN"),
  (c) => c.charCodeAt(0),
);

const familyOf = (d: Device): RuntimeFamily => (d === "wasm" ? "web" : "node");
const require = createRequire(import.meta.url);

let bound: { family: RuntimeFamily; tjs: Transformers } | undefined;
let ortWebPromise: Promise<typeof import("onnxruntime-web")> | undefined;
const probeCache = new Map<Device, Promise<string | null>>();

export function parseDevice(value: string): Device {
  if ((DEVICES as readonly string[]).includes(value)) return value as Device;
  throw new EngineError(`unknown device "${value}": expected one of ${DEVICES.join(", ")}`);
}

/**
 * onnxruntime-web configured for local, offline wasm files (transformers would point at a CDN).
 * Its thread count is fixed when the first session initialises the wasm module, so a `threads`
 * request after that (e.g. after a probe) can only be reported, not applied.
 */
async function ortWeb(threads?: number): Promise<typeof import("onnxruntime-web")> {
  const first = !ortWebPromise;
  ortWebPromise ??= import("onnxruntime-web").then((ort) => {
    ort.env.wasm.wasmPaths =
      embeddedOrtWebPaths() ?? dirname(require.resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm")) + "/";
    if (threads) ort.env.wasm.numThreads = threads;
    ort.env.logLevel = "error";
    return ort;
  });
  const ort = await ortWebPromise;
  if (!first && threads && ort.env.wasm.numThreads !== threads) {
    engineLog.warn(`wasm threads are fixed per process at ${ort.env.wasm.numThreads ?? "default"}; ignoring threads=${threads}`);
  }
  return ort;
}

/** Returns null when the backend works, else the reason it does not. */
export function probeDevice(device: Device): Promise<string | null> {
  let p = probeCache.get(device);
  if (!p) {
    p = (async () => {
      try {
        if (device === "wasm") {
          const ort = await ortWeb();
          const s = await ort.InferenceSession.create(PROBE_MODEL, { executionProviders: ["wasm"] });
          await s.release();
        } else {
          const missing = device === "cuda" ? cudaProviderMissing() : device === "webgpu" ? vulkanMissing() : null;
          if (missing) return missing;
          const ort = await loadOrtNode();
          const s = await ort.InferenceSession.create(PROBE_MODEL, { executionProviders: [device] });
          await s.release();
        }
        return null;
      } catch (e) {
        return oneLineError(e);
      }
    })();
    probeCache.set(device, p);
  }
  return p;
}

/** Where onnxruntime-node keeps its native libraries here, or null (compiled binary, other layout). */
function ortNativeDir(): string | null {
  try {
    const bin = require.resolve(`onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`);
    return existsSync(bin) ? dirname(bin) : null;
  } catch {
    return null;
  }
}

/** Why the CUDA EP cannot load, before trying (the runtime's own error is an opaque dlopen line). */
function cudaProviderMissing(): string | null {
  if (process.platform !== "linux" && process.platform !== "win32") return `onnxruntime-node has no CUDA execution provider for ${process.platform}`;
  const lib = process.platform === "win32" ? "onnxruntime_providers_cuda.dll" : "libonnxruntime_providers_cuda.so";
  const dir = ortNativeDir();
  if (dir && existsSync(join(dir, lib))) return null;
  // .npmrc skips onnxruntime-node's install script, which is what downloads the provider.
  const how = "install: ONNXRUNTIME_NODE_INSTALL_CUDA=v12 node node_modules/onnxruntime-node/script/install.js (CUDA 12, cuDNN 9)";
  return dir ? `CUDA EP not installed (no ${lib}); ${how}` : `the compiled binary has no CUDA EP; from source, ${how}`;
}

/** Linux WebGPU (Dawn) needs a Vulkan loader; without one the runtime only says "no adapters". */
function vulkanMissing(): string | null {
  if (process.platform !== "linux") return null;
  const dirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/usr/local/lib"];
  if (dirs.some((d) => existsSync(join(d, "libvulkan.so.1")))) return null;
  return "no Vulkan loader (libvulkan.so.1), so Dawn finds no WebGPU adapter; install the GPU driver's Vulkan support (libvulkan1 + the vendor ICD)";
}

/** Backends that can run a session in this process, in preference order (cpu first). */
export async function availableBackends(): Promise<Device[]> {
  const out: Device[] = [];
  for (const d of DEVICES) if ((await probeDevice(d)) === null) out.push(d);
  return out;
}

/** Fails with the list of working backends when `device` cannot run here. */
export async function requireDevice(device: Device, threads?: number): Promise<void> {
  if (device === "wasm") await ortWeb(threads); // before the probe initialises the wasm module
  const reason = await probeDevice(device);
  if (reason === null) return;
  const avail = await availableBackends();
  throw new EngineError(
    `backend ${device} is unavailable (${oneLineError(reason, 200)}); available backends: ${avail.join(", ") || "none"}`,
  );
}

/** transformers.js bound to the runtime family that `device` needs (first call decides). */
export async function transformersFor(device: Device, threads?: number): Promise<Transformers> {
  const family = familyOf(device);
  if (bound) {
    if (bound.family !== family) {
      throw new EngineError(
        `backend ${device} cannot be used in this process: it already runs ${bound.family === "web" ? "wasm (onnxruntime-web)" : "cpu/webgpu (onnxruntime-node)"}; start a separate process`,
      );
    }
    return bound.tjs;
  }
  const key = Symbol.for("onnxruntime");
  const g = globalThis as Record<symbol, unknown>;
  if (family === "web") g[key] = await ortWeb(threads);
  else await loadOrtNode();
  const tjs = await import("@huggingface/transformers");
  // Someone may have imported transformers before us; its ONNX binding is then already fixed.
  const usesWeb = Boolean((tjs.env.backends.onnx.versions as Record<string, string> | undefined)?.web);
  if ((family === "web") !== usesWeb) {
    throw new EngineError(`backend ${device} cannot be used: transformers.js was already initialised with another ONNX Runtime in this process`);
  }
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  // transformers' logger writes info to stdout; the CLI keeps stdout for generated text only.
  tjs.env.logLevel = tjs.LogLevel.ERROR;
  bound = { family, tjs };
  return tjs;
}


