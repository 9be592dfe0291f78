/**
 * `GET /v1/jobs/<ticket>/stream`: Server-Sent Events with the output of an on-chain job whose
 * prompt set `should_stream_output`, token by token while it is generated. A late subscriber first
 * gets everything produced so far, then the rest. Events:
 *   data: {"ticket_id", "index": <n>, "text": <piece>}        one per decoded piece, in order
 *   data: {"ticket_id", "done": true, "output_tokens": <n>}   the generation finished
 *   data: {"ticket_id", "error": <reason>}                    it failed or was interrupted
 *   data: [DONE]
 * The pieces concatenate to exactly the output that is committed on chain. A job already generated
 * (or whose live stream has been forgotten) is answered from the stored output in one piece.
 */
import { showValue } from "../../log/show-value.ts";
import type { Context } from "hono";
import { parseObjectId } from "../../chain/object-id.ts";
import type { OutputStreams, StreamEnd, StreamListener } from "../../jobs/output-streams.ts";
import type { JobStore } from "../../jobs/types.ts";
import { OpenAiError, errorResponse } from "./errors.ts";
import { sseResponse } from "./sse.ts";

export function jobStream(c: Context, store: JobStore | undefined, streams: OutputStreams | undefined, heartbeatMs = 15_000): Response {
  const raw = c.req.param("ticket") ?? "";
  const ticket = parseObjectId(raw);
  if (!ticket) return errorResponse(c, new OpenAiError(400, `ticket id ${showValue(raw, 80)} is not a hex object id (0x + up to 64 hex digits)`, "invalid_request_error", "ticket"));
  const jobs = store?.byTicket(ticket) ?? [];
  const job = jobs.find((j) => j.job.kind === "text" && j.job.params.shouldStreamOutput) ?? jobs[0];
  if (!job) return errorResponse(c, new OpenAiError(404, `no job for ticket ${ticket}`, "invalid_request_error", "ticket", "job_not_found"));
  const wanted = job.job.kind === "text" && job.job.params.shouldStreamOutput;
  const pending = job.state === "received" || job.state === "running";
  if (!wanted && pending) {
    return errorResponse(c, new OpenAiError(409, `the prompt of ticket ${ticket} did not ask for streamed output (should_stream_output = false); GET /v1/jobs/${ticket} has the output once generated`, "invalid_request_error", "ticket", "not_streamed"));
  }
  return sseResponse(
    c.req.raw.signal,
    (send, signal) =>
      new Promise<void>((resolve) => {
        let index = 0;
        const l: StreamListener = {
          piece: (text) => send({ ticket_id: ticket, index: index++, text }),
          end: (o: StreamEnd) => {
            send(o.ok ? { ticket_id: ticket, done: true, output_tokens: o.outputTokens } : { ticket_id: ticket, error: o.reason });
            resolve();
          },
        };
        const unsubscribe = streams?.subscribe(ticket, l, wanted && pending) ?? null;
        if (!unsubscribe) {
          if (job.outputText !== null) {
            l.piece(job.outputText);
            l.end({ ok: true, outputTokens: job.outputTokens ?? 0 });
          } else l.end({ ok: false, reason: job.error ?? `job is ${job.state}` });
          return;
        }
        signal.addEventListener("abort", () => {
          unsubscribe();
          resolve();
        }, { once: true });
      }),
    { heartbeatMs },
  );
}
