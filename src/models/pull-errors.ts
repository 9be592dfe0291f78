/**
 * One-line errors of a pull. Each says what failed, for which repo/revision/file, and what to do.
 * The token itself never appears; only where it came from.
 */
import { HubApiError } from "@huggingface/hub";
import { HubUnreachableError, type HubFetch } from "./hub-fetch.ts";
import { formatRepoRef, type RepoRef } from "./hub-cache.ts";
import type { ResolvedToken } from "./token.ts";

export type PullErrorKind = "auth" | "not_found" | "unreachable" | "disk_full" | "corrupt" | "no_files" | "unsupported" | "io";

export class PullError extends Error {
  override name = "PullError";
  constructor(
    readonly kind: PullErrorKind,
    message: string,
  ) {
    super(message);
  }

  /** Something the operator named or must provide (repo, revision, token): exit 2, like bad
   * input; the others (network, disk, bad bytes) are runtime failures: exit 1. */
  get isInputError(): boolean {
    return this.kind === "auth" || this.kind === "not_found" || this.kind === "unsupported" || this.kind === "no_files";
  }
}

export const TOKEN_SETTING = "[inference] api_key or HF_TOKEN";

export interface ErrorContext {
  ref: RepoRef;
  endpoint: string;
  token: ResolvedToken;
  http: HubFetch;
  /** The file being fetched, when the failure is about one file. */
  path?: string;
}

/** Maps anything a hub call threw to a PullError (already-mapped errors pass through). */
export function toPullError(e: unknown, ctx: ErrorContext): PullError {
  if (e instanceof PullError) return e;
  const { ref, endpoint, token } = ctx;
  const page = `${endpoint}/${ref.repo}`;
  const name = formatRepoRef(ref);
  if (e instanceof HubUnreachableError) {
    return new PullError("unreachable", `${e.message} (pulling ${name}; set HF_ENDPOINT to use another hub or mirror)`);
  }
  const status = e instanceof HubApiError ? e.statusCode : ctx.http.lastFailure?.status;
  const code = ctx.http.lastFailure?.code;
  const tokenNote = token.token ? `the token from ${token.source} was sent` : `no token was sent`;
  if (status === 401 || status === 403) {
    if (code === "RepoNotFound") {
      return new PullError("not_found", `repository ${ref.repo} not found at ${endpoint} (or private: ${tokenNote}; set a token in ${TOKEN_SETTING})`);
    }
    const what = code === "GatedRepo" || status === 403 ? "is gated" : "needs authentication";
    return new PullError(
      "auth",
      `${ref.repo} ${what} (HTTP ${status}, ${tokenNote}): accept its terms on the model page ${page} and set a token with access in ${TOKEN_SETTING}`,
    );
  }
  if (status === 404) {
    if (code === "RevisionNotFound") return new PullError("not_found", `revision ${JSON.stringify(ref.revision ?? "main")} not found in ${ref.repo} at ${endpoint}`);
    if (code === "EntryNotFound" && ctx.path) return new PullError("not_found", `file ${ctx.path} not found in ${name} at ${endpoint}`);
    return new PullError("not_found", `repository ${ref.repo} not found at ${endpoint}`);
  }
  if (status !== undefined) {
    return new PullError("io", `hub ${endpoint} answered HTTP ${status} while pulling ${name}${ctx.path ? ` (${ctx.path})` : ""}`);
  }
  const err = e as NodeJS.ErrnoException;
  return new PullError("io", `pulling ${name}${ctx.path ? ` (${ctx.path})` : ""} failed: ${err.code ? `${err.code} ` : ""}${(err.message ?? String(e)).split("\n")[0]}`);
}
