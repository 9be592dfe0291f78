/**
 * Connection limits shared by every route (docs/operations.md "Connection limits"). Bun's idle
 * timeout (`timeoutMs`) closes a connection that sends nothing — headers, body, or nothing while
 * it waits — and `readBody` bounds the whole body. A handler that then legitimately runs or
 * streams past the idle bound (a generation, an SSE stream) calls `holdOpen` — or mounts
 * `longLived` for a route with no body to wait for — which lifts the idle timeout for that one
 * request and closes its connection after the answer, so a lifted timeout never outlives the
 * request on a kept-alive socket.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Server } from "bun";

export const HTTP_DEFAULTS = {
  /** Idle bound for a connection and bound on receiving one request body. */
  timeoutMs: 30_000,
  /** Requests in flight at once (stalled ones included). */
  maxConnections: 256,
} as const;

/** Response header for a client we will not keep: Bun closes the connection after the response,
 * request body read or not. */
export const CLOSING = { connection: "close" } as const;

const held = new WeakSet<Request>();

/** Lifts the idle timeout for this request (after its body has arrived) and closes the connection
 * once it is answered. Outside Bun.serve (`app.request` in tests) only the header is set. */
export function holdOpen(c: Context): void {
  const server = c.env as Server<unknown> | undefined;
  if (server && typeof server.timeout === "function") server.timeout(c.req.raw, 0);
  held.add(c.req.raw);
}

/** Route middleware for responses that stream past the idle bound (SSE): `app.get(path, longLived, handler)`. */
export const longLived: MiddlewareHandler = async (c, next) => {
  holdOpen(c);
  await next();
};

/** App-wide middleware (mounted first): held requests' responses carry `Connection: close`. */
export const closeHeld: MiddlewareHandler = async (c, next) => {
  await next();
  if (!held.has(c.req.raw)) return;
  try {
    c.res.headers.set("connection", "close");
  } catch {
    c.res = new Response(c.res.body, { status: c.res.status, headers: { ...Object.fromEntries(c.res.headers), ...CLOSING } });
  }
};
