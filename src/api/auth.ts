/** Bearer-token check shared by JSON-RPC and the OpenAI routes (constant-time comparison). */
import { timingSafeEqual } from "node:crypto";

/** The token presented in an `Authorization: Bearer …` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  return m ? m[1]!.trim() : null;
}

export function tokenOk(header: string | undefined, token: string): boolean {
  const presented = bearerToken(header);
  if (presented === null) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
