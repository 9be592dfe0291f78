/**
 * Server-Sent Events responses. `produce` writes `data:` events through `send`; the stream ends
 * with `data: [DONE]`. When the client goes away (the body stream is cancelled or the request's
 * signal aborts), the signal handed to `produce` aborts, so generation stops and frees its model.
 * An error after the headers went out is sent as one `data: {"error": …}` event (the OpenAI
 * clients raise it as an APIError) before [DONE].
 */
import { log } from "../../log/logger.ts";
import { OpenAiError } from "./errors.ts";
import { ClientGone } from "./run.ts";

export interface SseOptions {
  /** Comment line sent this often while nothing else is (keeps proxies and idle timers content). */
  heartbeatMs?: number;
}

export function sseResponse(
  requestSignal: AbortSignal,
  produce: (send: (data: unknown) => void, signal: AbortSignal) => Promise<void>,
  opts: SseOptions = {},
): Response {
  const enc = new TextEncoder();
  const ctl = new AbortController();
  const onRequestAbort = () => ctl.abort();
  requestSignal.addEventListener("abort", onRequestAbort, { once: true });
  let closed = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (s: string) => {
        if (closed) return;
        try {
          controller.enqueue(enc.encode(s));
        } catch {
          closed = true;
          ctl.abort();
        }
      };
      const finish = () => {
        clearInterval(heartbeat);
        requestSignal.removeEventListener("abort", onRequestAbort);
        if (closed) return;
        write("data: [DONE]\n\n");
        closed = true;
        try {
          controller.close();
        } catch {
          // already cancelled by the client
        }
      };
      // Bun sends the status line and headers with the first body bytes: a comment now, so a
      // client waiting for a queued generation (or a job not started yet) sees the stream open.
      write(": open\n\n");
      if (opts.heartbeatMs) heartbeat = setInterval(() => write(": keep-alive\n\n"), opts.heartbeatMs);
      const send = (data: unknown) => write(`data: ${JSON.stringify(data)}\n\n`);
      produce(send, ctl.signal)
        .catch((e) => {
          if (e instanceof ClientGone || ctl.signal.aborted) return;
          const err = e instanceof OpenAiError ? e : new OpenAiError(500, `internal error: ${(e as Error).message}`, "server_error");
          if (!(e instanceof OpenAiError)) log.error(`stream: ${(e as Error).message}`);
          send(err.body());
        })
        .finally(finish);
    },
    cancel() {
      closed = true;
      clearInterval(heartbeat);
      ctl.abort();
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" },
  });
}
