/**
 * The Sui gRPC client from configuration (spec sui-integration.md §2). The seed's `http_url` is the
 * full node's base URL; its gRPC-web endpoint lives on the same origin.
 */
import { SuiGrpcClient } from "@mysten/sui/grpc";

export interface ClientOptions {
  /** Network name for the SDK (`mainnet`, `testnet`, `localnet`, …). */
  network: string;
  /** Full-node base URL (config `http_url`). */
  httpUrl: string;
  /** Default deadline of each unary call. Leave undefined for clients that hold long-lived
   * subscription streams: a transport-wide timeout would also cut the stream. */
  requestTimeoutMs?: number;
}

export function createSuiClient(opts: ClientOptions): SuiGrpcClient {
  let url: URL;
  try {
    url = new URL(opts.httpUrl);
  } catch {
    throw new Error(`Sui full-node URL ${JSON.stringify(opts.httpUrl)} is not a valid URL (expected e.g. https://fullnode.testnet.sui.io:443)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`Sui full-node URL ${opts.httpUrl} must be http:// or https://`);
  }
  const baseUrl = opts.httpUrl.replace(/\/+$/, "");
  return new SuiGrpcClient({
    network: opts.network,
    baseUrl,
    fetch: namingFetch(displayUrl(baseUrl)),
    ...(opts.requestTimeoutMs !== undefined ? { timeout: opts.requestTimeoutMs } : {}),
  });
}

/**
 * `fetch` whose connection failures name the full node (`http://…: ECONNREFUSED: …`): the gRPC
 * transport turns them into errors carrying only the socket's words, and an operator with several
 * endpoints needs to know which one failed. Aborts stay aborts (shutdown, timeouts).
 */
function namingFetch(baseUrl: string): typeof fetch {
  const named = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    try {
      return await fetch(input, init);
    } catch (e) {
      if (e instanceof Error && (e.name === "AbortError" || e.name === "TimeoutError")) throw e;
      const err = new Error(`${baseUrl}: ${e instanceof Error ? e.message : String(e)}`);
      err.name = e instanceof Error ? e.name : "Error";
      (err as Error & { cause?: unknown }).cause = e;
      throw err;
    }
  };
  return Object.assign(named, { preconnect: fetch.preconnect }) as typeof fetch;
}

/** The URL as errors show it: scheme, host and path, never user info or query (they may hold keys). */
export function displayUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
  } catch {
    return raw;
  }
}
