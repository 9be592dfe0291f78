/**
 * Receiving one request body under the node's limits: at most `maxBytes` (checked against
 * Content-Length first, then while reading chunked bodies) and within `timeoutMs` in total, so a
 * client that drips or stalls its body cannot hold a socket. A client that disconnects mid-body or
 * sends a broken chunk is the client's fault: reported as `client`, never as a node error.
 */

export type BodyResult =
  | { kind: "ok"; text: string }
  | { kind: "too_large" }
  | { kind: "timeout" }
  | { kind: "client"; reason: string };

export async function readBody(req: Request, maxBytes: number, timeoutMs: number): Promise<BodyResult> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) return { kind: "too_large" };
  if (!req.body) return { kind: "ok", text: "" };
  const reader = req.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((res) => (timer = setTimeout(() => res("late"), timeoutMs)));
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), late]);
      if (r === "late") return { kind: "timeout" };
      if (r.done) break;
      size += r.value.byteLength;
      if (size > maxBytes) return { kind: "too_large" };
      chunks.push(r.value);
    }
  } catch (e) {
    return { kind: "client", reason: (e as Error).message };
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
  return { kind: "ok", text: Buffer.concat(chunks).toString("utf8") };
}
