/**
 * ONNX Runtime bootstrap for both ways the node runs:
 *  - from source, onnxruntime-node loads its addon and `libonnxruntime` from node_modules;
 *  - in the compiled binary, Bun extracts the embedded addon to a temp dir whose `$ORIGIN` RUNPATH
 *    has no `libonnxruntime.so.1` (runtime-notes §6.3). So before the addon loads we copy the
 *    embedded library to a cache dir and `dlopen` it; the addon then finds it by SONAME.
 * build.ts patches onnxruntime-node's `binding.js` to call `preloadOrtNativeLibrary()` first, so
 * a plain `import("onnxruntime-node")` (and transformers.js) works unchanged in the binary.
 */
import { dlopen, FFIType } from "bun:ffi";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embeddedOrt } from "./ort-embedded.ts";

/** Held for the life of the process: closing the handle would unload ORT. */
let library: { close(): void } | undefined;
let preloadedFrom: string | undefined;

function isCompiledBinary(): boolean {
  return Bun.isStandaloneExecutable === true;
}

/**
 * In the compiled binary: extract and `dlopen` the embedded ONNX Runtime library (idempotent).
 * Returns the path loaded, or undefined when nothing needed loading (source mode, or a build
 * whose target had no native library — then the addon fails to load and `cpu` is unavailable).
 * Synchronous because it runs inside the addon's CommonJS `require`.
 */
export function preloadOrtNativeLibrary(): string | undefined {
  const lib = embeddedOrt.nativeLibrary;
  if (lib === undefined || preloadedFrom !== undefined) return preloadedFrom;
  const bytes = readFileSync(lib.path);
  // Content-addressed: repeated starts reuse one copy instead of leaving 46 MB per run in /tmp.
  const dir = join(tmpdir(), `atoma-node-ort-${Bun.hash(bytes).toString(16)}`);
  const target = join(dir, lib.fileName);
  if (!existsSync(target) || statSync(target).size !== bytes.length) {
    mkdirSync(dir, { recursive: true });
    const partial = `${target}.${process.pid}.partial`;
    writeFileSync(partial, bytes, { mode: 0o755 });
    renameSync(partial, target); // atomic: a concurrent start never dlopens a half-written file
  }
  // bun:ffi refuses an empty symbol map; OrtGetApiBase is the library's one C entry point.
  library = dlopen(target, { OrtGetApiBase: { args: [], returns: FFIType.ptr } });
  preloadedFrom = target;
  return target;
}

/** onnxruntime-node, loaded the right way for source and binary (same as a plain import). */
export async function loadOrtNode(): Promise<typeof import("onnxruntime-node")> {
  preloadOrtNativeLibrary();
  return await import("onnxruntime-node");
}

/**
 * Embedded onnxruntime-web files for `ort.env.wasm.wasmPaths` in the binary, or undefined from
 * source (then resolve them from node_modules as usual).
 */
export function embeddedOrtWebPaths(): { wasm: string; mjs: string } | undefined {
  return embeddedOrt.wasm;
}

/** For `doctor`: what the binary embeds and what was loaded. */
export function ortRuntimeInfo(): { compiled: boolean; target: string | undefined; nativeLibrary: string | undefined; embeddedWasm: boolean } {
  return {
    compiled: isCompiledBinary(),
    target: embeddedOrt.target,
    nativeLibrary: preloadedFrom,
    embeddedWasm: embeddedOrt.wasm !== undefined,
  };
}

