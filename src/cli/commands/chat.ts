/**
 * `atoma-node chat`: an interactive terminal chat, either against a running node's OpenAI API
 * (`--url`, streamed over SSE) or with a local model in this process (`--model <dir | model_type>`,
 * rendered with the model's chat template like POST /v1/chat/completions). The conversation
 * history is kept and sent with every turn; answers stream as they are generated; Ctrl-C stops
 * the current answer (what was printed stays in the history) and the prompt comes back — at an
 * empty prompt Ctrl-C or Ctrl-D ends the program. `/reset` forgets the history, `/exit` quits.
 */
import { createInterface } from "node:readline";
import { defineCommand } from "citty";
import { fail } from "../fail.ts";
import { configArgs } from "../../config/cli-args.ts";

interface Message {
  role: string;
  content: string;
}

/** Streams one answer; resolves with its text (partial when `signal` aborted). */
type Answer = (history: Message[], signal: AbortSignal, write: (t: string) => void) => Promise<string>;

interface Options {
  maxTokens: number;
  temperature: number;
  seed: number | undefined;
}

/** fetch, but a request the user stopped (Ctrl-C) before the answer began is an empty answer. */
async function post(url: string, init: RequestInit & { signal: AbortSignal }): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (init.signal.aborted) return new Response("");
    throw e;
  }
}

function remote(url: string, model: string, token: string | undefined, o: Options): Answer {
  const base = url.replace(/\/+$/, "").replace(/\/v1$/, "");
  return async (history, signal, write) => {
    const res = await post(`${base}/v1/chat/completions`, {
      method: "POST",
      signal,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ model, messages: history, stream: true, max_tokens: o.maxTokens, temperature: o.temperature, ...(o.seed === undefined ? {} : { seed: o.seed }) }),
    });
    if (!res.ok || !res.body) {
      const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
      throw new Error(`${res.status}: ${body?.error?.message ?? res.statusText}`);
    }
    let text = "";
    let buf = "";
    const dec = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!block.startsWith("data: ") || block === "data: [DONE]") continue;
          const ev = JSON.parse(block.slice(6));
          if (ev.error) throw new Error(ev.error.message);
          const piece: string = ev.choices?.[0]?.delta?.content ?? "";
          text += piece;
          write(piece);
        }
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
    return text;
  };
}

async function local(model: string, args: Record<string, unknown>, o: Options): Promise<Answer> {
  const { resolveModel } = await import("./generate.ts");
  const { loadTextEngine } = await import("../../engine/engine.ts");
  const { renderChat } = await import("../../api/openai/chat-template.ts");
  const resolved = await resolveModel(model, args as Record<string, string | boolean | string[] | undefined>, undefined);
  const engine = await loadTextEngine({ id: model, dir: resolved.dir, device: resolved.device ?? "cpu", dtype: resolved.dtype });
  let turn = 0;
  return async (history, signal, write) => {
    const prompt = renderChat(engine.tokenizer, history);
    // Without --seed each turn samples differently; with it, the same conversation repeats exactly.
    const seed = BigInt(o.seed ?? Date.now() + turn++);
    const r = await engine.generate(
      { prompt, signal, params: { maxTokens: o.maxTokens, temperature: Math.fround(o.temperature), topK: 0, topP: 1, repeatPenalty: 1, repeatLastN: 64, seed: BigInt.asUintN(64, seed) } },
      (c) => write(c.text),
    );
    return r.text;
  };
}

function num(name: string, raw: string | undefined, dflt: number, int: boolean): number {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v) || (int && !Number.isSafeInteger(v))) fail(`--${name} ${JSON.stringify(raw)}: expected ${int ? "an integer" : "a number"}`);
  return v;
}

export default defineCommand({
  meta: { name: "chat", description: "Interactive chat with a model: a running node (--url) or a local model (--model)" },
  args: {
    model: { type: "string", description: "Model id on the node (with --url), or a local model directory / model_type / org/name repo" },
    url: { type: "string", description: "Base URL of a running node, e.g. http://127.0.0.1:3000 (its /v1 API)" },
    token: { type: "string", description: "Bearer token for --url (default: $ATOMA_TOKEN)" },
    system: { type: "string", description: "System message starting the conversation" },
    "max-tokens": { type: "string", description: "Maximum tokens per answer (default 256)" },
    temperature: { type: "string", description: "Sampling temperature (default 0.7; 0 = greedy)" },
    seed: { type: "string", description: "Sampler seed (default: a new one each turn)" },
    ...configArgs,
    config: { ...configArgs.config, alias: [...configArgs.config.alias] },
  },
  async run({ args }) {
    if (!args.model) fail("missing --model <id or directory>");
    const o: Options = {
      maxTokens: num("max-tokens", args["max-tokens"], 256, true),
      temperature: num("temperature", args.temperature, 0.7, false),
      seed: args.seed === undefined ? undefined : num("seed", args.seed, 0, true),
    };
    if (o.maxTokens < 1) fail("--max-tokens: expected an integer ≥ 1");
    let answer: Answer;
    try {
      answer = args.url ? remote(args.url, args.model, args.token ?? process.env.ATOMA_TOKEN, o) : await local(args.model, args, o);
    } catch (e) {
      fail((e as Error).message);
    }
    const start: Message[] = args.system ? [{ role: "system", content: args.system }] : [];
    let history = [...start];
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
    let current: AbortController | null = null;
    let closed = false;
    // Ctrl-C: stop the answer being generated; at the prompt, quit.
    const onInterrupt = () => {
      if (current) current.abort();
      else rl.close();
    };
    rl.on("SIGINT", onInterrupt);
    process.on("SIGINT", onInterrupt);
    rl.on("close", () => (closed = true));
    const lines = rl[Symbol.asyncIterator]();
    const ask = () => process.stdout.write("> ");
    if (process.stdin.isTTY) process.stderr.write("Ctrl-C stops an answer; /reset forgets the conversation; /exit or Ctrl-D quits.\n");
    ask();
    while (!closed) {
      const next = await lines.next();
      if (next.done) break;
      const line = next.value.trim();
      if (line === "") {
        ask();
        continue;
      }
      if (line === "/exit" || line === "/quit") break;
      if (line === "/reset") {
        history = [...start];
        process.stdout.write("(history cleared)\n");
        ask();
        continue;
      }
      history.push({ role: "user", content: line });
      current = new AbortController();
      try {
        const text = await answer(history, current.signal, (t) => void process.stdout.write(t));
        history.push({ role: "assistant", content: text });
        process.stdout.write(current.signal.aborted ? "\n(stopped)\n" : "\n");
      } catch (e) {
        history.pop();
        process.stderr.write(`error: ${(e as Error).message.split("\n")[0]}\n`);
      }
      current = null;
      ask();
    }
    process.off("SIGINT", onInterrupt);
    rl.close();
    process.exit(0);
  },
});
