/**
 * What this node put into cache_dir, so `flush_storage` can remove exactly that and nothing else
 * (the hub cache is shared with other Hugging Face tools). An append-only JSON-lines file,
 * `<cache_dir>/.atoma-node/downloads.jsonl`: one small `appendFile` per entry is atomic on POSIX,
 * so concurrent pulls may record at once. Entries are paths relative to cache_dir.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { readdir, rm, rmdir } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

export const RECORD_DIR = ".atoma-node";
const RECORD_FILE = "downloads.jsonl";

/** `dir`: a folder the node made that is removed only if empty at flush time (e.g. `.locks/<repo>`). */
export type CreatedKind = "blob" | "partial" | "pointer" | "ref" | "converted" | "dir";

/** Notes that the node created `path` (inside cacheDir). */
export function recordCreated(cacheDir: string, kind: CreatedKind, path: string): void {
  const rel = relative(cacheDir, path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return;
  mkdirSync(join(cacheDir, RECORD_DIR), { recursive: true });
  appendFileSync(join(cacheDir, RECORD_DIR, RECORD_FILE), JSON.stringify({ kind, path: rel }) + "\n");
}

export interface FlushResult {
  removed: number;
}

/** Removes every recorded path, then the directories that removal left empty, then the record. */
export async function flushDownloads(cacheDir: string): Promise<FlushResult> {
  const root = resolve(cacheDir);
  const file = join(root, RECORD_DIR, RECORD_FILE);
  if (!existsSync(file)) return { removed: 0 };
  const paths = new Set<string>();
  const dirs = new Set<string>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { path?: unknown; kind?: unknown };
      if (typeof e.path === "string") (e.kind === "dir" ? dirs : paths).add(e.path);
    } catch {
      // A torn last line (crash mid-append) names nothing usable.
    }
  }
  let removed = 0;
  const parents = new Set<string>();
  for (const rel of dirs) {
    const abs = resolve(root, rel);
    for (let d = abs; d.startsWith(root + sep); d = dirname(d)) parents.add(d);
  }
  for (const rel of paths) {
    const abs = resolve(root, rel);
    if (!abs.startsWith(root + sep)) continue; // never outside cache_dir, whatever the file says
    try {
      await rm(abs, { recursive: true, force: true });
      removed++;
    } catch {
      // Already gone or not ours to remove: nothing else to do.
    }
    for (let d = dirname(abs); d.startsWith(root + sep); d = dirname(d)) parents.add(d);
  }
  // Deepest first, so a repo folder goes once its snapshots/blobs/refs are empty.
  for (const d of [...parents].sort((a, b) => b.length - a.length)) {
    try {
      if ((await readdir(d)).length === 0) await rmdir(d);
    } catch {
      // Not empty (another tool's files) or gone.
    }
  }
  await rm(join(root, RECORD_DIR), { recursive: true, force: true });
  return { removed };
}
