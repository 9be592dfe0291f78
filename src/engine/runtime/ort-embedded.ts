/**
 * Native/wasm ONNX Runtime files embedded in the compiled binary. From source this module is
 * exactly this (nothing embedded: the files are read from node_modules). `build.ts` replaces its
 * contents at bundle time with `import … with { type: "file" }` of the target platform's files.
 */
export interface EmbeddedOrt {
  /** `/$bunfs/…` path of the ONNX Runtime shared library, and the name its addon links against. */
  nativeLibrary?: { path: string; fileName: string };
  /** onnxruntime-web's threaded SIMD wasm and its JS glue (both needed for >1 thread). */
  wasm?: { wasm: string; mjs: string };
  /** Platform the binary was built for, e.g. `linux-x64`. */
  target?: string;
}

export const embeddedOrt: EmbeddedOrt = {};
