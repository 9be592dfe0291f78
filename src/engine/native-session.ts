/**
 * A decoder graph opened straight through onnxruntime-node's binding, run synchronously.
 *
 * The public `InferenceSession.run` wraps the same binding call in argument checks, a Promise and
 * a setImmediate hop per call; on a tiny model that wrapping was a measurable share of every
 * decode step (docs/performance.md, "Where a decode step's time goes"). The batched loop
 * (batching.ts) calls `runSync` and yields to the event loop itself, on a time budget instead of
 * at every step. Output tensors are the binding's own (onnxruntime-common Tensors over ONNX
 * Runtime's buffers, not copied), exactly what the public API returns.
 *
 * The binding is imported by its path inside onnxruntime-node; build.ts patches that same file so
 * the compiled binary pre-loads its embedded native library first (src/engine/runtime/ort-native.ts).
 */
import type { OrtTensor } from "./kv-batch.ts";
import { loadOrtNode } from "./runtime/ort-native.ts";

/** onnxruntime-node's element type codes (ONNX TensorProto.DataType), as its backend.js maps them. */
const TYPES = [undefined, "float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "string", "bool", "float16", "float64", "uint32", "uint64"];

interface RawMetadata {
  name: string;
  isTensor: boolean;
  type: number;
  shape: number[];
  symbolicDimensions: string[];
}

interface NativeBinding {
  InferenceSession: new () => {
    loadModel(path: string, options: Record<string, unknown>): void;
    readonly inputMetadata: RawMetadata[];
    readonly outputMetadata: RawMetadata[];
    run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>): Record<string, OrtTensor>;
    dispose(): void;
  };
}

export interface ValueMetadata {
  name: string;
  type?: string;
  shape?: (number | string)[];
}

export interface NativeSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ValueMetadata[];
  /**
   * Runs the graph on the calling thread, returning `fetches` (every output when absent). The
   * binding copies each returned output into a new JS buffer, so fetching fewer is cheaper.
   * Throws on a runtime error.
   */
  runSync(feeds: Record<string, OrtTensor>, fetches?: readonly string[]): Record<string, OrtTensor>;
  /** The same, as the public API's Promise (unbatched callers). */
  run(feeds: Record<string, OrtTensor>, fetches?: readonly string[]): Promise<Record<string, OrtTensor>>;
  release(): void;
}

function metadata(raw: RawMetadata[]): ValueMetadata[] {
  return raw.map((m) =>
    m.isTensor ? { name: m.name, type: TYPES[m.type], shape: m.shape.map((d, i) => (d === -1 ? m.symbolicDimensions[i]! : d)) } : { name: m.name },
  );
}

/** Opens `file` on the CPU execution provider with these session options (the public API's names). */
export async function openNativeSession(file: string, options: Record<string, unknown>): Promise<NativeSession> {
  await loadOrtNode();
  const mod = (await import("onnxruntime-node/dist/binding.js")) as unknown as { binding: NativeBinding; initOrt(): void };
  mod.initOrt();
  const s = new mod.binding.InferenceSession();
  s.loadModel(file, { executionProviders: ["cpu"], ...options });
  const inputMetadata = metadata(s.inputMetadata);
  const outputNames = s.outputMetadata.map((m) => m.name);
  const all = Object.fromEntries(outputNames.map((n) => [n, null]));
  // The binding takes {name: null} objects; a caller passes the same few lists every step.
  const lists = new Map<readonly string[], Record<string, null>>();
  const fetchesFor = (names?: readonly string[]) => {
    if (!names) return all;
    let f = lists.get(names);
    if (!f) lists.set(names, (f = Object.fromEntries(names.map((n) => [n, null]))));
    return f;
  };
  let released = false;
  return {
    inputNames: inputMetadata.map((m) => m.name),
    outputNames,
    inputMetadata,
    runSync: (feeds, names) => s.run(feeds, fetchesFor(names)),
    run: async (feeds, names) => s.run(feeds, fetchesFor(names)),
    release: () => {
      if (!released) s.dispose();
      released = true;
    },
  };
}
