/**
 * OpenAI's error body, `{"error": {message, type, param, code}}`, which the official clients turn
 * into typed exceptions (BadRequestError, NotFoundError, RateLimitError, …) by HTTP status.
 */
import type { Context } from "hono";

export class OpenAiError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 408 | 409 | 413 | 429 | 500 | 503 | 504,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Seconds, for 429/503 (Retry-After header). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalid = (message: string, param: string | null = null, code: string | null = null) =>
  new OpenAiError(400, message, "invalid_request_error", param, code);

export const unsupported = (param: string, what: string) =>
  new OpenAiError(400, `${param}: ${what} is not supported by this node`, "invalid_request_error", param, "unsupported_parameter");

export function errorResponse(c: Context, e: OpenAiError): Response {
  const headers: Record<string, string> = {};
  if (e.retryAfter !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(e.retryAfter)));
  // Clients we will not wait for (no token, body too big or too slow): the connection is closed.
  if (e.status === 401 || e.status === 408 || e.status === 413) headers.connection = "close";
  return c.json(e.body(), e.status, headers);
}
