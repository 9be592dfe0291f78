/**
 * `bun run build [--target <bun-target>] [--outfile <path>]`: one self-contained executable,
 * dist/atoma-node by default, that runs from any directory with no node_modules beside it.
 *
 * What Bun cannot do on its own (runtime-notes §6.3, §6.4), done here with a bundler plugin:
 *  - `sharp` (images; unused by text inference) is replaced by a stub, because it loads its
 *    native code through createRequire, which the bundler cannot see;
 *  - transformers.js loads onnxruntime-node with `createRequire(import.meta.url)(…)`, invisible to
 *    the bundler: rewritten into a static import so onnxruntime-node is bundled;
 *  - onnxruntime-node's `binding.js` picks its addon with a template string: rewritten to the
 *    target platform's addon, preceded by `preloadOrtNativeLibrary()` (src/engine/runtime/ort-native.ts)
 *    which dlopens the embedded `libonnxruntime` so the extracted addon finds it;
 *  - src/engine/runtime/ort-embedded.ts is replaced by `type: "file"` imports of the target's
 *    native library and onnxruntime-web's wasm + glue.
 * Cross targets whose native library is not in node_modules build without it (a warning): the
 * `cpu` backend is then unavailable in that binary and `wasm` remains.
 */
import type { BunPlugin } from "bun";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = import.meta.dir;
const NODE_MODULES = join(ROOT, "node_modules");

interface Platform {
  /** onnxruntime-node's folder names. */
  os: "linux" | "darwin" | "win32";
  arch: "x64" | "arm64";
  /** The library file in onnxruntime-node's bin folder, and the name the addon links against. */
  library: string;
  suffix: string;
}

const TARGETS: Record<string, Platform> = {
  "bun-linux-x64": { os: "linux", arch: "x64", library: "libonnxruntime.so.1", suffix: "" },
  "bun-linux-arm64": { os: "linux", arch: "arm64", library: "libonnxruntime.so.1", suffix: "-linux-arm64" },
  "bun-darwin-arm64": { os: "darwin", arch: "arm64", library: "libonnxruntime.1.dylib", suffix: "-darwin-arm64" },
  "bun-darwin-x64": { os: "darwin", arch: "x64", library: "libonnxruntime.1.dylib", suffix: "-darwin-x64" },
  "bun-windows-x64": { os: "win32", arch: "x64", library: "onnxruntime.dll", suffix: "-windows-x64.exe" },
};

function hostTarget(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `bun-${os}-${process.arch}`;
}

export interface BuildResult {
  outfile: string;
  target: string;
  warnings: string[];
  bytes: number;
}

/** `entry`: another entry point compiled the same way (the GPU benchmark harness, test/bench/gpu). */
export async function build(opts: { target?: string; outfile?: string; entry?: string } = {}): Promise<BuildResult> {
  const target = opts.target ?? hostTarget();
  const platform = TARGETS[target];
  if (!platform) {
    throw new Error(`unknown --target ${JSON.stringify(target)}, expected one of ${Object.keys(TARGETS).join(", ")}`);
  }
  const isHost = target === hostTarget();
  let outfile = resolve(opts.outfile ?? join(ROOT, "dist", isHost ? "atoma-node" : `atoma-node${platform.suffix}`));
  // Bun appends .exe for Windows targets; name the file we report accordingly.
  if (platform.os === "win32" && !outfile.endsWith(".exe")) outfile += ".exe";
  mkdirSync(dirname(outfile), { recursive: true });

  const warnings: string[] = [];
  const ortBin = join(NODE_MODULES, "onnxruntime-node", "bin", "napi-v6", platform.os, platform.arch);
  const addon = join(ortBin, "onnxruntime_binding.node");
  const library = join(ortBin, platform.library);
  const haveNative = existsSync(addon) && existsSync(library);
  if (!haveNative) {
    warnings.push(
      `onnxruntime-node has no native files for ${platform.os}/${platform.arch} in node_modules (${ortBin}); ` +
        `the binary is built without them: backend "cpu" will be unavailable there, "wasm" remains`,
    );
  }
  const webDist = join(NODE_MODULES, "onnxruntime-web", "dist");
  const wasm = join(webDist, "ort-wasm-simd-threaded.wasm");
  const mjs = join(webDist, "ort-wasm-simd-threaded.mjs");
  const ortNative = join(ROOT, "src", "engine", "runtime", "ort-native.ts");

  const plugin: BunPlugin = {
    name: "atoma-node-single-binary",
    setup(b) {
      // Subcommands are lazy imports in main.ts; one that does not exist yet (work in progress)
      // becomes a command that says so, instead of failing the whole build.
      b.onResolve({ filter: /^\.\/commands\/[a-z-]+\.ts$/ }, (args) => {
        const path = resolve(dirname(args.importer), args.path);
        if (existsSync(path)) return { path };
        warnings.push(`${args.path} does not exist: that subcommand is a stub in this binary`);
        return { path: args.path, namespace: "atoma-missing-command" };
      });
      b.onLoad({ filter: /.*/, namespace: "atoma-missing-command" }, (args) => ({
        contents:
          `import { defineCommand } from "citty";\n` +
          `export default defineCommand({ meta: { description: "(not included in this build)" }, run() {\n` +
          `  process.stderr.write(${JSON.stringify(`this atoma-node binary was built without src/cli/${args.path.slice(2)}\n`)});\n` +
          `  process.exit(2);\n} });\n`,
        loader: "ts",
        resolveDir: join(ROOT, "src", "cli"),
      }));
      b.onResolve({ filter: /^sharp$/ }, () => ({ path: "sharp", namespace: "atoma-stub" }));
      b.onLoad({ filter: /^sharp$/, namespace: "atoma-stub" }, () => ({
        // Must be truthy: transformers.js throws at import time when no image library exists.
        contents: `export default function sharp() { throw new Error("image processing (sharp) is not included in the atoma-node binary"); }`,
        loader: "js",
      }));

      b.onLoad({ filter: /transformers[\\/]dist[\\/]transformers\.node\.mjs$/ }, async (args) => {
        const text = await Bun.file(args.path).text();
        const needle = `var onnx_node_default = requireFromHere("onnxruntime-node");`;
        if (!text.includes(needle)) throw new Error(`build: ${args.path} no longer contains ${needle}; update build.ts`);
        return {
          contents: text.replace(needle, `import __atoma_ort_node from "onnxruntime-node";\nvar onnx_node_default = __atoma_ort_node;`),
          loader: "js",
        };
      });

      b.onLoad({ filter: /onnxruntime-node[\\/]dist[\\/]binding\.js$/ }, async (args) => {
        const text = await Bun.file(args.path).text();
        const needle = "require(`../bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`)";
        if (!text.includes(needle)) throw new Error(`build: ${args.path} no longer contains the addon require; update build.ts`);
        const load = haveNative
          ? `(require(${JSON.stringify(ortNative)}).preloadOrtNativeLibrary(), require(${JSON.stringify(addon)}))`
          : `(() => { throw new Error("onnxruntime-node native files were not available for ${platform.os}-${platform.arch} when this binary was built"); })()`;
        return { contents: text.replace(needle, load), loader: "js" };
      });

      b.onLoad({ filter: /src[\\/]engine[\\/]runtime[\\/]ort-embedded\.ts$/ }, () => {
        const lines = [
          `import wasm from ${JSON.stringify(wasm)} with { type: "file" };`,
          `import mjs from ${JSON.stringify(mjs)} with { type: "file" };`,
        ];
        if (haveNative) lines.push(`import lib from ${JSON.stringify(library)} with { type: "file" };`);
        const native = haveNative ? `{ path: lib, fileName: ${JSON.stringify(platform.library)} }` : "undefined";
        lines.push(
          `export const embeddedOrt = { nativeLibrary: ${native}, wasm: { wasm, mjs }, target: ${JSON.stringify(`${platform.os}-${platform.arch}`)} };`,
        );
        return { contents: lines.join("\n"), loader: "ts" };
      });
    },
  };

  const result = await Bun.build({
    // The sampling worker (src/engine/sampler-pool.ts) is a module of its own, loaded by path.
    entrypoints: opts.entry ? [resolve(opts.entry)] : [join(ROOT, "src", "cli", "main.ts"), join(ROOT, "src", "engine", "sampler-worker.ts")],
    compile: { target: target as Bun.Build.CompileTarget, outfile },
    target: "bun",
    plugins: [plugin],
    // Keep `process.platform` checks honest for cross targets: no host-specific constant folding.
    minify: false,
    throw: false,
  });
  if (!result.success) {
    const messages = result.logs.map((l) => String(l.message ?? l)).join("\n");
    throw new Error(`build failed for ${target}:\n${messages}`);
  }
  return { outfile, target, warnings, bytes: statSync(outfile).size };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { target: { type: "string" }, outfile: { type: "string" } },
    allowPositionals: false,
  });
  try {
    const started = performance.now();
    const r = await build({ target: values.target, outfile: values.outfile });
    for (const w of r.warnings) console.warn(`warning: ${w}`);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`built ${r.outfile} (${r.target}, ${(r.bytes / 1e6).toFixed(1)} MB) in ${secs} s`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
