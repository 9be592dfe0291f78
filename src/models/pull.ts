/**
 * `models pull`: one repository revision into the hub cache, on @huggingface/hub's API client
 * (repo info for the commit sha, the recursive tree for file sizes and hashes, file resolution).
 * What the library lacks is added here and in blob-fetch.ts: Range resume, hash checks before a
 * blob is used, locking between concurrent pulls, progress, and one-line errors.
 */
import { mkdirSync, existsSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { listFiles, modelInfo } from "@huggingface/hub";
import { fetchFile, type RepoFile } from "./blob-fetch.ts";
import { recordCreated } from "./downloads.ts";
import { COMMIT_RE, formatRepoRef, matchesPattern, repoFolder, type RepoRef } from "./hub-cache.ts";
import { createHubFetch } from "./hub-fetch.ts";
import type { PullProgress } from "./progress.ts";
import { PullError, toPullError } from "./pull-errors.ts";
import type { ResolvedToken } from "./token.ts";
import type { Selection } from "./layout.ts";

export interface PullOptions {
  ref: RepoRef;
  cacheDir: string;
  endpoint: string;
  token: ResolvedToken;
  /** Only files matching one of these (`*` within a path segment); undefined = every file. */
  include?: readonly string[];
  /** Sees the repo's whole file list before anything is fetched: may narrow it or refuse the pull. */
  select?: (paths: string[], readText: (path: string) => Promise<string>) => Promise<Selection> | Selection;
  progress: PullProgress;
  signal?: AbortSignal;
  /** For tests: the transport under the hub fetch wrapper. */
  fetch?: typeof fetch;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  /** `<cache>/models--org--name/snapshots/<commit>`. */
  dir: string;
  files: number;
  bytes: number;
  /** Bytes that came over the network in this pull. */
  fetched: number;
}

export async function pullRepo(o: PullOptions): Promise<PullResult> {
  const revision = o.ref.revision ?? "main";
  const http = createHubFetch(o.endpoint, o.token.token, o.fetch);
  const ctx = { ref: o.ref, endpoint: o.endpoint, token: o.token, http };
  const repoDir = repoFolder(o.cacheDir, o.ref.repo);
  let commit: string;
  let files: RepoFile[];
  try {
    const info = await modelInfo({ name: o.ref.repo, revision, additionalFields: ["sha"], hubUrl: o.endpoint, fetch: http.fetch });
    commit = String((info as { sha?: unknown }).sha ?? "");
    if (!COMMIT_RE.test(commit)) throw new PullError("io", `hub ${o.endpoint} gave no commit sha for ${formatRepoRef(o.ref)}`);
    files = [];
    for await (const e of listFiles({ repo: { type: "model", name: o.ref.repo }, revision: commit, recursive: true, hubUrl: o.endpoint, fetch: http.fetch })) {
      if (e.type !== "file") continue;
      if (o.include && !o.include.some((p) => matchesPattern(e.path, p))) continue;
      const etag = e.lfs?.oid ?? e.oid;
      if (!etag) throw new PullError("io", `hub ${o.endpoint} listed ${e.path} in ${o.ref.repo} without a hash`);
      files.push({ path: e.path, size: e.lfs?.size ?? e.size, etag, lfs: e.lfs !== undefined });
    }
  } catch (e) {
    throw toPullError(e, ctx);
  }
  if (o.select) {
    const readText = async (path: string): Promise<string> => {
      const resp = await http.fetch(`${o.endpoint}/${o.ref.repo}/resolve/${commit}/${path}`, { signal: o.signal });
      if (!resp.ok) throw toPullError(Object.assign(new Error(`HTTP ${resp.status}`), { status: resp.status }), { ...ctx, path });
      return resp.text();
    };
    const sel = await o.select(files.map((f) => f.path), readText);
    if (sel.refuse) throw new PullError("unsupported", `${formatRepoRef(o.ref)} ${sel.refuse}`);
    if (sel.include) files = files.filter((f) => sel.include!.includes(f.path));
  }
  if (files.length === 0) {
    const what = o.include ? `none of ${o.include.join(", ")}` : "no files";
    throw new PullError("no_files", `${formatRepoRef(o.ref)} at ${o.endpoint} has ${what} (commit ${commit.slice(0, 12)})`);
  }
  for (const f of files) {
    if (f.path.split("/").some((s) => s === ".." || s === "" || s === ".")) throw new PullError("io", `hub listed an unsafe path ${JSON.stringify(f.path)} in ${o.ref.repo}`);
  }
  const dir = join(repoDir, "snapshots", commit);
  const pending = files.filter((f) => !existsSync(join(dir, f.path)) && !existsSync(join(repoDir, "blobs", f.etag)));
  o.progress.start(formatRepoRef(o.ref), pending.reduce((n, f) => n + f.size, 0), files.length);
  let fetched = 0;
  try {
    for (const f of files) {
      try {
        fetched += await fetchFile({ cacheDir: o.cacheDir, repoDir, repo: o.ref.repo, commit, endpoint: o.endpoint, http, progress: o.progress, signal: o.signal }, f);
      } catch (e) {
        throw toPullError(e, { ...ctx, path: f.path });
      }
    }
  } finally {
    o.progress.end();
  }
  mkdirSync(dir, { recursive: true });
  // Written last: a ref in the cache means every selected file of that commit is in place.
  if (revision !== commit) await writeRef(o.cacheDir, join(repoDir, "refs", revision), commit);
  return { repo: o.ref.repo, revision, commit, dir, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0), fetched };
}

/** refs/<revision> holds the commit; written beside and renamed so readers never see it empty. */
async function writeRef(cacheDir: string, file: string, commit: string): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const existed = existsSync(file);
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, commit);
  await rename(tmp, file);
  if (!existed) recordCreated(cacheDir, "ref", file);
}

/** Asks the hub whether `ref` exists and this token may read it (doctor); the commit it names. */
export async function probeRepo(ref: RepoRef, endpoint: string, token: ResolvedToken): Promise<string> {
  const http = createHubFetch(endpoint, token.token);
  try {
    const info = await modelInfo({ name: ref.repo, revision: ref.revision ?? "main", additionalFields: ["sha"], hubUrl: endpoint, fetch: http.fetch });
    return String((info as { sha?: unknown }).sha ?? "");
  } catch (e) {
    throw toPullError(e, { ref, endpoint, token, http });
  }
}
