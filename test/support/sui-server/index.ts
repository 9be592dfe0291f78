/**
 * A loopback stand-in for a Sui full node's gRPC-web API (spec sui-integration.md §8.2), answering
 * the real `SuiGrpcClient`. `startSuiServer()` is the library entry used by tests;
 * test/support/sui-server.ts is the command-line entry for people.
 */
import type { Server } from "bun";
import { AdminApi, handleAdminHttp } from "./admin.ts";
import { Faults } from "./faults.ts";
import { contentTypeOf, dataFrame, formatOf, GrpcError, METHODS, readRequestMessage, Status, trailerFrame, wire, type WireFormat } from "./grpc-web.ts";
import { type CallCtx, HANDLERS } from "./handlers.ts";
import { Ledger, type LedgerOptions } from "./ledger.ts";
import { loadLedger, saveLedger } from "./state-file.ts";

export interface SuiServerOptions extends LedgerOptions {
  /** 0 (default) = any free port. */
  port?: number;
  hostname?: string;
  /** Reject PTBs with commands after a Random-using call, as Sui does (default true). */
  enforceRandomRestriction?: boolean;
  /** Gas units charged per transaction (default 1000; × gas price = MIST). */
  computationUnits?: bigint;
  /** Seal an empty checkpoint this often, like a live chain (default 0 = only when something happens). */
  checkpointIntervalMs?: number;
  /** JSON file the ledger is restored from (if present) and saved to after every checkpoint. */
  statePath?: string;
}

export interface SuiServer {
  /** Base URL for `new SuiGrpcClient({ network: 'localnet', baseUrl: url })`. */
  readonly url: string;
  readonly port: number;
  readonly ledger: Ledger;
  readonly admin: AdminApi;
  stop(): Promise<void>;
}

function trailerOnly(format: WireFormat, code: number, message: string): Response {
  return new Response(wire(format, trailerFrame(code, message)), {
    status: 200,
    headers: { "content-type": contentTypeOf(format), "grpc-status": String(code), "grpc-message": encodeURIComponent(message) },
  });
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

const MAX_CALLS = 10_000;
const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Honours the client's `grpc-timeout` header on unary calls like a real server: DEADLINE_EXCEEDED. */
function withDeadline<T>(header: string | null, work: Promise<T>): Promise<T> {
  const m = header ? /^(\d{1,8})([HMSmun])$/.exec(header) : null;
  if (!m) return work;
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GrpcError(Status.DEADLINE_EXCEEDED, "Deadline Exceeded")), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

async function handleGrpc(req: Request, ctxBase: Omit<CallCtx, "signal">): Promise<Response> {
  const format = formatOf(req.headers.get("content-type"));
  if (!format) return new Response("expected a grpc-web request", { status: 415 });
  const path = new URL(req.url).pathname;
  const method = METHODS.get(path);
  const key = method ? `${method.service.split(".").pop()}/${method.name}` : "";
  const handler = HANDLERS[key];
  const { ledger, faults } = ctxBase;
  let input: object;
  try {
    if (!method) throw new GrpcError(Status.UNIMPLEMENTED, `unknown method ${path}`);
    input = method.I.fromBinary(readRequestMessage(format, new Uint8Array(await req.arrayBuffer())));
    ledger.calls.push({ at: Date.now(), service: method.service, method: method.name, input: method.I.toJson(input), headers: Object.fromEntries(req.headers) });
    if (ledger.calls.length > MAX_CALLS) ledger.calls.splice(0, ledger.calls.length - MAX_CALLS); // a long-running CLI server stays bounded
    if (!handler) throw new GrpcError(Status.UNIMPLEMENTED, `method ${method.name} is not implemented by the Atoma test server`);
    const delay = faults.takeDelay(method.name);
    if (delay) await sleep(delay.ms, req.signal);
    const fault = faults.takeError(method.name);
    if (fault) throw new GrpcError(fault.code, fault.message);
  } catch (e) {
    if (e instanceof GrpcError) return trailerOnly(format, e.code, e.message);
    return trailerOnly(format, Status.INVALID_ARGUMENT, `malformed request: ${(e as Error).message}`);
  }
  const ctx: CallCtx = { ...ctxBase, signal: req.signal };
  const headers = { "content-type": contentTypeOf(format) };
  if (!method.serverStreaming) {
    try {
      const out = (await withDeadline(req.headers.get("grpc-timeout"), handler(input, ctx) as Promise<object>)) as object;
      const body = new Uint8Array([...dataFrame(method.O.toBinary(method.O.create(out as never))), ...trailerFrame(Status.OK)]);
      return new Response(wire(format, body), { status: 200, headers });
    } catch (e) {
      if (e instanceof GrpcError) return trailerOnly(format, e.code, e.message);
      return trailerOnly(format, Status.INTERNAL, (e as Error).message);
    }
  }
  const frames = handler(input, ctx) as AsyncGenerator<object>;
  const drop = faults.takeDrop(method.name);
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (drop && sent >= drop.afterFrames) {
          // Cut mid-stream without a trailer, as a lost connection looks to grpc-web (DATA_LOSS on the client).
          await frames.return(undefined);
          controller.close();
          return;
        }
        const next = await frames.next();
        if (next.done) {
          controller.enqueue(wire(format, trailerFrame(Status.OK)));
          controller.close();
          return;
        }
        sent += 1;
        controller.enqueue(wire(format, dataFrame(method.O.toBinary(method.O.create(next.value as never)))));
      } catch (e) {
        const err = e instanceof GrpcError ? e : new GrpcError(Status.INTERNAL, (e as Error).message);
        controller.enqueue(wire(format, trailerFrame(err.code, err.message)));
        controller.close();
      }
    },
    async cancel() {
      await frames.return(undefined);
    },
  });
  return new Response(stream, { status: 200, headers });
}

export async function startSuiServer(opts: SuiServerOptions = {}): Promise<SuiServer> {
  const ledger = new Ledger(opts);
  let saveTimer: ReturnType<typeof setTimeout> | undefined;
  if (opts.statePath) {
    const path = opts.statePath;
    loadLedger(ledger, path);
    // Debounced (and always written on stop): a burst of checkpoints costs one write, and tickets
    // opened right after their checkpoint are included.
    ledger.onCheckpoint(() => {
      saveTimer ??= setTimeout(() => {
        saveTimer = undefined;
        saveLedger(ledger, path);
      }, 500);
    });
  }
  const faults = new Faults();
  const ticker = opts.checkpointIntervalMs ? setInterval(() => ledger.appendCheckpoint([]), opts.checkpointIntervalMs) : undefined;
  const exec = { enforceRandomRestriction: opts.enforceRandomRestriction ?? true, computationUnits: opts.computationUnits ?? 1000n };
  const admin = new AdminApi(ledger, faults);
  const server: Server<undefined> = Bun.serve({
    port: opts.port ?? 0,
    hostname: opts.hostname ?? "127.0.0.1",
    idleTimeout: 0, // subscriptions stay open indefinitely
    fetch: (req) => {
      const path = new URL(req.url).pathname;
      if (path.startsWith("/admin/")) return handleAdminHttp(admin, req, path);
      return handleGrpc(req, { ledger, faults, exec });
    },
  });
  const url = `http://${server.hostname}:${server.port}`;
  return {
    url,
    port: server.port!,
    ledger,
    admin,
    async stop() {
      clearInterval(ticker);
      await server.stop(true);
      if (saveTimer) clearTimeout(saveTimer);
      if (opts.statePath) saveLedger(ledger, opts.statePath);
    },
  };
}

export { Ledger } from "./ledger.ts";
export type { FaultSpec } from "./faults.ts";
