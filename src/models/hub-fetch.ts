/**
 * The one `fetch` every hub request of a pull goes through (passed to @huggingface/hub as its
 * `fetch` option, and used for the ranged blob downloads). It
 *  - adds `Authorization: Bearer <token>` only to requests for the configured endpoint's origin,
 *    following redirects itself so a token never travels to a CDN or any other host;
 *  - remembers the last failed response (status, `X-Error-Code`, URL) so errors can say exactly
 *    what was refused (@huggingface/hub's HubApiError keeps no headers);
 *  - turns a connection failure into HubUnreachableError naming the endpoint.
 */
export class HubUnreachableError extends Error {
  override name = "HubUnreachableError";
  constructor(
    readonly endpoint: string,
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach the Hugging Face hub at ${endpoint}: ${reason}`);
  }
}

export interface FailedResponse {
  status: number;
  /** The hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`). */
  code: string | undefined;
  url: string;
}

export interface HubFetch {
  fetch: typeof fetch;
  endpoint: string;
  lastFailure: FailedResponse | undefined;
}

const MAX_REDIRECTS = 10;

export function createHubFetch(endpoint: string, token: string | undefined, base: typeof fetch = fetch): HubFetch {
  const origin = new URL(endpoint).origin;
  const state: HubFetch = { endpoint, lastFailure: undefined, fetch: undefined as unknown as typeof fetch };
  const run = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    let url = new URL(input instanceof Request ? input.url : input.toString());
    let method = init.method ?? "GET";
    let body = init.body;
    for (let hop = 0; ; hop++) {
      const headers = new Headers(init.headers);
      // The library may have added a header itself; the origin rule decides, not the caller.
      headers.delete("authorization");
      if (token && url.origin === origin) headers.set("authorization", `Bearer ${token}`);
      let resp: Response;
      try {
        resp = await base(url, { ...init, method, body, headers, redirect: "manual" });
      } catch (e) {
        if ((e as Error).name === "AbortError") throw e;
        throw new HubUnreachableError(endpoint, url.toString(), networkReason(e));
      }
      const location = resp.headers.get("location");
      if (resp.status >= 300 && resp.status < 400 && location && hop < MAX_REDIRECTS) {
        await resp.body?.cancel().catch(() => {});
        url = new URL(location, url);
        if (resp.status === 303) {
          method = "GET";
          body = undefined;
        }
        continue;
      }
      if (!resp.ok) state.lastFailure = { status: resp.status, code: resp.headers.get("x-error-code") ?? undefined, url: url.toString() };
      // fileDownloadInfo reads `resp.url` to learn where a redirect ended.
      Object.defineProperty(resp, "url", { value: url.toString() });
      return resp;
    }
  };
  state.fetch = run as typeof fetch;
  return state;
}

function networkReason(e: unknown): string {
  const err = e as { code?: string; message?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code;
  if (code === "ConnectionRefused" || code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code === "ETIMEDOUT" || code === "UND_ERR_CONNECT_TIMEOUT") return "connection timed out";
  if (code === "ECONNRESET" || code === "ConnectionClosed") return "connection reset";
  return (err.message ?? String(e)).split("\n")[0]!;
}
