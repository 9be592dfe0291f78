/**
 * Fetches one repo file into the hub cache: `blobs/<etag>.incomplete` (resumed with HTTP Range
 * when a previous pull was interrupted), checked against the hub's hash before it is renamed to
 * `blobs/<etag>` (sha256 = the LFS oid; git blob sha1 for small non-LFS files), then linked from
 * `snapshots/<commit>/<path>` by an atomic rename of a fresh symlink. Nothing half-written or
 * unverified is ever reachable through a snapshot.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream, existsSync, lstatSync, mkdirSync, statSync } from "node:fs";
import { open, rename, rm, symlink, truncate } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileDownloadInfo } from "@huggingface/hub";
import { withBlobLock } from "./blob-lock.ts";
import { recordCreated } from "./downloads.ts";
import type { HubFetch } from "./hub-fetch.ts";
import type { PullProgress } from "./progress.ts";
import { PullError } from "./pull-errors.ts";
import { formatBytes } from "./progress.ts";

export interface RepoFile {
  path: string;
  size: number;
  /** sha256 of the content for LFS files, else the git blob sha1. */
  etag: string;
  lfs: boolean;
}

export interface BlobTarget {
  cacheDir: string;
  /** `<cache>/models--org--name`. */
  repoDir: string;
  repo: string;
  commit: string;
  endpoint: string;
  http: HubFetch;
  progress: PullProgress;
  signal?: AbortSignal;
}

/** Returns the number of bytes fetched over the network (0 when the blob was already cached). */
export async function fetchFile(t: BlobTarget, f: RepoFile): Promise<number> {
  const pointer = join(t.repoDir, "snapshots", t.commit, f.path);
  const blob = join(t.repoDir, "blobs", f.etag);
  if (existsSync(pointer) && statSync(pointer).size === f.size) return 0;
  mkdirSync(dirname(blob), { recursive: true });
  const lock = join(t.cacheDir, ".locks", relative(t.cacheDir, t.repoDir), `${f.etag}.lock`);
  const fetched = await withBlobLock(lock, () => (existsSync(blob) ? Promise.resolve(0) : download(t, f, blob)), t.signal, (d) => recordCreated(t.cacheDir, "dir", d));
  await linkPointer(t.cacheDir, pointer, blob);
  return fetched;
}

/** snapshots/<commit>/<path> → ../../blobs/<etag>, created beside and renamed into place. */
async function linkPointer(cacheDir: string, pointer: string, blob: string): Promise<void> {
  mkdirSync(dirname(pointer), { recursive: true });
  const existed = lstatExists(pointer);
  const tmp = `${pointer}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await symlink(relative(dirname(pointer), blob), tmp);
  await rename(tmp, pointer);
  if (!existed) recordCreated(cacheDir, "pointer", pointer);
}

function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function newHash(f: RepoFile): Hash {
  if (f.lfs) return createHash("sha256");
  // git's blob id: sha1("blob <size>\0" + content)
  return createHash("sha1").update(`blob ${f.size}\0`);
}

async function hashExisting(h: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
}

async function download(t: BlobTarget, f: RepoFile, blob: string): Promise<number> {
  const incomplete = `${blob}.incomplete`;
  let have = existsSync(incomplete) ? statSync(incomplete).size : 0;
  if (have > f.size) {
    await truncate(incomplete, 0);
    have = 0;
  }
  if (!existsSync(incomplete)) recordCreated(t.cacheDir, "partial", incomplete);
  let hash = newHash(f);
  if (have > 0) await hashExisting(hash, incomplete);
  t.progress.file(f.path, f.size, have);
  let fetched = 0;
  if (have < f.size) {
    const url = await resolveUrl(t, f);
    const resp = await t.http.fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, signal: t.signal });
    if (!resp.ok) throw Object.assign(new Error(`HTTP ${resp.status}`), { status: resp.status });
    if (have > 0 && resp.status !== 206) {
      // The server ignored the Range: start the file over rather than append a second copy.
      await truncate(incomplete, 0);
      have = 0;
      hash = newHash(f);
    }
    fetched = await appendBody(resp, incomplete, hash, t, f, have);
  }
  const size = statSync(incomplete).size;
  if (size < f.size) {
    // The connection ended early (a proxy or the server closed it cleanly): keep what arrived.
    throw new PullError("io", `${t.repo} ${f.path}: the download ended after ${formatBytes(size)} of ${formatBytes(f.size)}; kept them, pull again to resume`);
  }
  const digest = hash.digest("hex");
  if (size !== f.size || digest !== f.etag) {
    // Bad bytes cannot be resumed from: drop them so the next pull starts this file afresh.
    await rm(incomplete, { force: true });
    const what = size !== f.size ? `${size} bytes, expected ${f.size}` : `${f.lfs ? "sha256" : "git sha1"} ${digest}, expected ${f.etag}`;
    throw new PullError("corrupt", `${t.repo} ${f.path}: downloaded content does not match the hub's hash (${what}); discarded it, pull again`);
  }
  await rename(incomplete, blob);
  recordCreated(t.cacheDir, "blob", blob);
  t.progress.fileDone(f.path);
  return fetched;
}

/** The URL the content is fetched from, via the library (follows the hub's redirect for LFS
 * files). The content hash, not the answer's ETag, decides whether the bytes are right: a CDN
 * behind the redirect may label them its own way. */
async function resolveUrl(t: BlobTarget, f: RepoFile): Promise<string> {
  const info = await fileDownloadInfo({ repo: { type: "model", name: t.repo }, path: f.path, revision: t.commit, hubUrl: t.endpoint, fetch: t.http.fetch });
  if (!info) throw Object.assign(new Error(`file ${f.path} not found`), { status: 404 });
  return info.url;
}

async function appendBody(resp: Response, incomplete: string, hash: Hash, t: BlobTarget, f: RepoFile, have: number): Promise<number> {
  const fh = await open(incomplete, "a");
  let n = 0;
  try {
    if (!resp.body) return 0;
    for await (const chunk of resp.body as unknown as AsyncIterable<Uint8Array>) {
      if (have + n + chunk.byteLength > f.size) throw new PullError("corrupt", `${t.repo} ${f.path}: the hub sent more than the ${f.size} bytes its tree lists`);
      try {
        for (let off = 0; off < chunk.byteLength; ) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOSPC") {
          throw new PullError(
            "disk_full",
            `disk full writing ${incomplete}: ${formatBytes(have + n)} of ${formatBytes(f.size)} kept for resume; free space on ${t.cacheDir}'s disk, then pull again`,
          );
        }
        throw e;
      }
      hash.update(chunk);
      n += chunk.byteLength;
      t.progress.bytes(chunk.byteLength);
    }
  } finally {
    await fh.close();
  }
  return n;
}
