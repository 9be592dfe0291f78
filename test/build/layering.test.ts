/**
 * "No layer reaches up" (developers' guide): the data path src/chain → src/jobs → src/engine →
 * src/commitment → src/publish never imports the outer layers that drive it (src/api, src/cli,
 * src/node.ts); src/chain, where events enter, does not import the job store or the publisher
 * that consume them; and the shared ground every layer may import (src/log — logger and metrics —
 * and src/protocol — wire types) imports no other layer. Read from the import lines of src/.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../../src");

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** The top-level part of src/ a path lies in ("jobs", "api", "node.ts", …). */
const layerOf = (abs: string) => relative(SRC, abs).split("/")[0]!;

/** Every (from layer, to layer, file) edge of a relative import that crosses layers. */
function edges(): { from: string; to: string; file: string }[] {
  const out: { from: string; to: string; file: string }[] = [];
  for (const file of tsFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    // Static imports, re-exports and dynamic import() of relative paths.
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = resolve(dirname(file), m[1]!);
      if (relative(SRC, target).startsWith("..")) continue; // package.json, models/ data
      const from = layerOf(file);
      const to = layerOf(target);
      if (from !== to) out.push({ from, to, file: relative(SRC, file) });
    }
  }
  return out;
}

const OUTER = ["api", "cli", "node.ts"];
const RULES: { layers: string[]; mayNotImport: string[] }[] = [
  { layers: ["chain", "jobs", "engine", "commitment", "publish"], mayNotImport: OUTER },
  { layers: ["chain"], mayNotImport: ["jobs", "publish"] },
  {
    layers: ["log", "protocol"],
    mayNotImport: ["api", "chain", "cli", "commitment", "config", "convert", "engine", "jobs", "models", "node.ts", "publish"],
  },
];

describe("layering", () => {
  const all = edges();

  test("the import scan sees the known edges (jobs → chain, api → log)", () => {
    expect(all.some((e) => e.from === "jobs" && e.to === "chain")).toBe(true);
    expect(all.some((e) => e.from === "api" && e.to === "log")).toBe(true);
  });

  test("no layer reaches up", () => {
    const bad = all
      .filter((e) => RULES.some((r) => r.layers.includes(e.from) && r.mayNotImport.includes(e.to)))
      .map((e) => `${e.file} imports src/${e.to}`);
    expect(bad).toEqual([]);
  });
});
