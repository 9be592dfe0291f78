/**
 * The standard Hugging Face hub cache layout, shared with the Python and JS hub clients:
 *   <cache>/models--<org>--<name>/refs/<revision>        (file holding the commit sha)
 *   <cache>/models--<org>--<name>/snapshots/<commit>/<path> → ../../blobs/<etag>  (relative symlink)
 *   <cache>/models--<org>--<name>/blobs/<etag>           (sha256 for LFS files, git sha1 otherwise)
 *   <cache>/.locks/models--<org>--<name>/<etag>.lock     (held while a blob is downloaded)
 * Folder naming and the default location come from @huggingface/hub so they cannot drift.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { getRepoFolderName } from "@huggingface/hub";

export const DEFAULT_HUB_ENDPOINT = "https://huggingface.co";

/** A repository and an optional revision, as written `org/name[@revision]`. */
export interface RepoRef {
  repo: string;
  /** Branch, tag, `refs/pr/N` or a 40-hex commit; undefined = `main`. */
  revision: string | undefined;
}

const REPO_RE = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
export const COMMIT_RE = /^[0-9a-f]{40}$/;

/** `org/name` or `org/name@rev`; undefined when `spec` is not written like a hub repo. */
export function parseRepoRef(spec: string): RepoRef | undefined {
  const at = spec.indexOf("@");
  const repo = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? undefined : spec.slice(at + 1);
  if (!REPO_RE.test(repo) || repo.includes("..")) return undefined;
  if (revision !== undefined && (revision === "" || revision.includes("..") || /\s/.test(revision))) return undefined;
  return { repo, revision };
}

export function formatRepoRef(r: RepoRef): string {
  return r.revision ? `${r.repo}@${r.revision}` : r.repo;
}

/**
 * The hub's default cache directory, by its own rules: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE,
 * else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 * (Same order as @huggingface/hub's getHFHubCachePath, but reading the given environment.)
 */
export function defaultHubCache(env: Record<string, string | undefined> = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  return join(hfHome(env), "hub");
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(env: Record<string, string | undefined> = process.env): string {
  return env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface");
}

/** `HF_ENDPOINT` without a trailing slash, else the public hub. */
export function hubEndpoint(env: Record<string, string | undefined> = process.env): string {
  return (env.HF_ENDPOINT?.trim() || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, "");
}

export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, getRepoFolderName({ type: "model", name: repo }));
}

/** The commit a revision points to in the cache (refs/<rev>), or the revision itself when it is a commit. */
export function cachedCommit(cacheDir: string, ref: RepoRef): string | undefined {
  const rev = ref.revision ?? "main";
  if (COMMIT_RE.test(rev)) return rev;
  const file = join(repoFolder(cacheDir, ref.repo), "refs", rev);
  if (!existsSync(file)) return undefined;
  const sha = readFileSync(file, "utf8").trim();
  return COMMIT_RE.test(sha) ? sha : undefined;
}

/** The cached snapshot directory of `ref`, if the cache has one. */
export function cachedSnapshot(cacheDir: string, ref: RepoRef): string | undefined {
  const commit = cachedCommit(cacheDir, ref);
  if (!commit) return undefined;
  const dir = join(repoFolder(cacheDir, ref.repo), "snapshots", commit);
  return existsSync(dir) && statSync(dir).isDirectory() ? dir : undefined;
}

/** `*` matches within one path segment; everything else is literal. */
export function matchesPattern(path: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")}$`);
  return re.test(path);
}
