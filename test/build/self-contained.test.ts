/**
 * A fresh clone works with nothing beside it: no source, test, script or config file refers to the
 * project's shared folder outside the repository, and every link in the README and docs/ points to
 * a file inside the repository.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

function files(dir: string, keep: (f: string) => boolean): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p, keep));
    else if (keep(p)) out.push(p);
  }
  return out;
}

describe("fresh clone", () => {
  test("no file reads the shared folder beside the repository", () => {
    // Spelled in pieces so this file does not match itself.
    // A path joined from pieces (a "shared" piece, then "models" or "spec") counts too.
    const outside = new RegExp(["\\.\\./", "shared|", "shared/", "(models|spec)/|[\"']", "shared[\"'],\\s*[\"'](models|spec)"].join(""));
    const scanned = [
      ...["src", "test", "config", ".ci"].flatMap((d) => files(join(ROOT, d), (f) => /\.(ts|toml|json|sh)$|\/run$/.test(f))),
      join(ROOT, "package.json"),
      join(ROOT, "build.ts"),
      join(ROOT, "bunfig.toml"),
    ];
    const hits = scanned.filter((f) => outside.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f));
    expect(hits).toEqual([]);
  });

  test("README, docs/ and models/README.md link only to files inside the repository", () => {
    const docs = [join(ROOT, "README.md"), join(ROOT, "models", "README.md"), ...files(join(ROOT, "docs"), (f) => f.endsWith(".md"))];
    const bad: string[] = [];
    let links = 0;
    for (const doc of docs) {
      const text = readFileSync(doc, "utf8").replace(/```[\s\S]*?```/g, "");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        links++;
        const target = m[1]!;
        const path = target.split("#")[0]!;
        if (/^[a-z]+:/i.test(target)) bad.push(`${relative(ROOT, doc)}: ${target} leaves the repository`);
        else if (path === "") continue; // an anchor in the same page
        else {
          const abs = resolve(dirname(doc), path);
          if (relative(ROOT, abs).startsWith("..")) bad.push(`${relative(ROOT, doc)}: ${target} leaves the repository`);
          else if (!existsSync(abs)) bad.push(`${relative(ROOT, doc)}: ${target} does not exist`);
        }
      }
    }
    expect(bad).toEqual([]);
    expect(links).toBeGreaterThan(10);
  });

  test("README is one page", () => {
    const lines = readFileSync(join(ROOT, "README.md"), "utf8").split("\n").length;
    expect(lines).toBeLessThan(160);
    expect(statSync(join(ROOT, "docs")).isDirectory()).toBe(true);
  });
});
