/**
 * An in-memory hub repository built from files the test generates: per file its git blob sha1
 * (what the hub calls `oid`), and for LFS-tracked files the sha256 and size the hub reports under
 * `lfs` (the default .gitattributes of a model repo tracks weights and ONNX files with LFS).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export interface HubFile {
  path: string;
  bytes: Uint8Array;
  /** git blob sha1 of the content (non-LFS) or of the LFS pointer file (LFS). */
  oid: string;
  lfs?: { oid: string; size: number; pointerSize: number };
}

export interface HubRepo {
  name: string;
  /** branch / tag / refs/pr/N → commit sha. */
  refs: Map<string, string>;
  files: Map<string, HubFile>;
  gated: boolean;
  private: boolean;
}

const LFS_RE = /\.(onnx|onnx_data|safetensors|bin|gguf|pt|pth|ckpt|msgpack|h5)$|_data$/;

const gitBlobSha1 = (b: Uint8Array | string) => {
  const buf = typeof b === "string" ? Buffer.from(b) : Buffer.from(b);
  return createHash("sha1").update(`blob ${buf.byteLength}\0`).update(buf).digest("hex");
};
export const sha256Hex = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export function hubFile(path: string, bytes: Uint8Array): HubFile {
  if (!LFS_RE.test(path)) return { path, bytes, oid: gitBlobSha1(bytes) };
  const sha = sha256Hex(bytes);
  const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${bytes.byteLength}\n`;
  return { path, bytes, oid: gitBlobSha1(pointer), lfs: { oid: sha, size: bytes.byteLength, pointerSize: pointer.length } };
}

/** All files under `dir` (recursively) as repo files. */
export function filesFromDir(dir: string): HubFile[] {
  const out: HubFile[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(hubFile(relative(dir, p), new Uint8Array(readFileSync(p))));
    }
  };
  walk(dir);
  return out;
}

/** A repo whose `main` (and any extra refs) point at one commit of `files`. */
export function makeRepo(name: string, files: HubFile[], opts: { gated?: boolean; private?: boolean; refs?: string[] } = {}): HubRepo {
  const h = createHash("sha1").update(name);
  for (const f of files) h.update(f.path).update(f.oid);
  const commit = h.digest("hex");
  const refs = new Map<string, string>([["main", commit], ...(opts.refs ?? []).map((r) => [r, commit] as [string, string])]);
  return { name, refs, files: new Map(files.map((f) => [f.path, f])), gated: opts.gated ?? false, private: opts.private ?? false };
}

/** The commit a revision names: a ref, or a commit sha the repo has. */
export function resolveRevision(repo: HubRepo, rev: string): string | undefined {
  if (rev === "HEAD") return repo.refs.get("main");
  if (repo.refs.has(rev)) return repo.refs.get(rev);
  return [...repo.refs.values()].includes(rev) ? rev : undefined;
}
