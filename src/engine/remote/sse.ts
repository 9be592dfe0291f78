/**
 * Server-sent events from a byte stream (the WHATWG event-stream rules that matter for
 * OpenAI-style streams): lines end in LF, CRLF or CR; `data:` lines accumulate until a blank line
 * dispatches the event; `:` lines are comments (keep-alives); other fields are ignored. Bounded: a
 * line or event above `maxEventBytes` is refused instead of growing memory without limit.
 */

export class SseLimitError extends Error {
  override name = "SseLimitError";
}

export async function* sseEvents(
  body: ReadableStream<Uint8Array>,
  opts: { maxEventBytes: number; onRead?: () => void },
): AsyncGenerator<string, void, void> {
  const decoder = new TextDecoder();
  let buf = "";
  let data: string[] | null = null;
  let size = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      opts.onRead?.();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let start = 0;
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf.slice(start));
        if (!m) break;
        // A lone CR at the end of the buffer may be the first half of CRLF: wait for more bytes.
        if (m[0] === "\r" && start + m.index === buf.length - 1) break;
        const line = buf.slice(start, start + m.index);
        start += m.index + m[0].length;
        if (line === "") {
          if (data !== null) yield data.join("\n");
          data = null;
          size = 0;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        if (name !== "data") continue;
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        size += value.length;
        if (size > opts.maxEventBytes) throw new SseLimitError(`stream event larger than ${opts.maxEventBytes} bytes`);
        (data ??= []).push(value);
      }
      buf = buf.slice(start);
      if (buf.length > opts.maxEventBytes) throw new SseLimitError(`stream line longer than ${opts.maxEventBytes} bytes`);
    }
    buf += decoder.decode();
    // A final event without its blank line still counts (some servers close right after it).
    if (buf !== "" && buf.startsWith("data:")) (data ??= []).push(buf.slice(5).replace(/^ /, ""));
    if (data !== null) yield data.join("\n");
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => {});
  }
}
