/**
 * Fault injection for the fake full node. Every fault names a gRPC method (`MethodName`, e.g.
 * `SubscribeCheckpoints`, or `*` for all) and is consumed as calls arrive, so a test scripts
 * exactly which call misbehaves.
 */
import { Status, type StatusName } from "./grpc-web.ts";

export interface ErrorFault {
  method: string;
  code: number;
  message: string;
  /** Calls left to fail. */
  remaining: number;
}

export interface DropFault {
  method: string;
  /** Data frames sent before the stream is cut (no trailer). */
  afterFrames: number;
  /** Streams left to cut. */
  remaining: number;
}

export interface DelayFault {
  method: string;
  ms: number;
  remaining: number;
}

/** JSON shape accepted by the admin endpoint and `server.admin.setFaults`. */
export interface FaultSpec {
  /** Fail the next `count` calls of `method` with `status` (name or number). */
  error?: { method: string; status: StatusName | number; message?: string; count?: number };
  /** Cut the next `count` streams of `method` after `afterFrames` data frames. */
  dropStream?: { method: string; afterFrames: number; count?: number };
  /** Delay the next `count` calls of `method` by `ms`. */
  delay?: { method: string; ms: number; count?: number };
  /** Execute the next `count` transactions but lose the response: `hang` until the client gives up
   *  (or `hangMs`), or answer `error` DEADLINE_EXCEEDED. */
  executeTimeout?: { count?: number; mode?: "hang" | "error"; hangMs?: number };
  /** Hold the next `count` executions before they reach validators, for `ms` (default 60 s); then
   *  they execute. A call whose client goes away meanwhile (a node killed after recording and
   *  sending its transaction) is dropped unexecuted: its bytes never left the full node. */
  holdExecute?: { count?: number; ms?: number };
  /** Lock the owned inputs of the next `count` executions to their transaction without executing
   *  it (it reached too few validators) and answer UNAVAILABLE: resending the same bytes executes
   *  it; a different transaction over those versions is refused as equivocation until the epoch ends. */
  equivocationLock?: { count?: number };
  /** Consensus cancels the next `count` transactions that write a shared object (congestion):
   *  executed-but-failed with CongestedObjects, gas charged, owned versions bumped. */
  congestion?: { count?: number };
  /** Object reads show the state of `ms` ago (a replica lagging behind execution, spec §9:
   *  "reads right after execution may be stale; use effects"). 0 = off. */
  readLagMs?: number;
  /** Reject the `filter` field of list/subscribe requests with INVALID_ARGUMENT (older servers). */
  rejectFilters?: boolean;
  /** Scan budget of ListEvents/ListCheckpoints per call (short/empty pages with more to come). */
  scanLimit?: number;
  /** Methods answered with UNIMPLEMENTED (e.g. a provider with subscriptions switched off). */
  unimplemented?: string[];
  /** Clear every fault first. */
  clear?: boolean;
}

const matches = (f: { method: string }, method: string) => f.method === "*" || f.method === method;

export class Faults {
  errors: ErrorFault[] = [];
  drops: DropFault[] = [];
  delays: DelayFault[] = [];
  executeTimeouts: { remaining: number; mode: "hang" | "error"; hangMs: number }[] = [];
  holds: { remaining: number; ms: number }[] = [];
  lockOnly = 0;
  congested = 0;
  readLagMs = 0;
  rejectFilters = false;
  scanLimit = 1000;
  unimplemented = new Set<string>();

  apply(spec: FaultSpec): void {
    if (spec.clear) {
      this.errors = [];
      this.drops = [];
      this.delays = [];
      this.executeTimeouts = [];
      this.holds = [];
      this.lockOnly = 0;
      this.congested = 0;
      this.readLagMs = 0;
      this.rejectFilters = false;
      this.scanLimit = 1000;
      this.unimplemented.clear();
    }
    if (spec.error) {
      const s = spec.error.status;
      const code = typeof s === "number" ? s : Status[s];
      if (code === undefined) throw new Error(`error.status: unknown gRPC status ${JSON.stringify(s)}; expected one of ${Object.keys(Status).join(", ")}`);
      this.errors.push({ method: spec.error.method, code, message: spec.error.message ?? `injected ${typeof s === "number" ? s : s}`, remaining: spec.error.count ?? 1 });
    }
    if (spec.dropStream) this.drops.push({ method: spec.dropStream.method, afterFrames: spec.dropStream.afterFrames, remaining: spec.dropStream.count ?? 1 });
    if (spec.delay) this.delays.push({ method: spec.delay.method, ms: spec.delay.ms, remaining: spec.delay.count ?? 1 });
    if (spec.executeTimeout) {
      this.executeTimeouts.push({ remaining: spec.executeTimeout.count ?? 1, mode: spec.executeTimeout.mode ?? "hang", hangMs: spec.executeTimeout.hangMs ?? 60_000 });
    }
    if (spec.holdExecute) this.holds.push({ remaining: spec.holdExecute.count ?? 1, ms: spec.holdExecute.ms ?? 60_000 });
    if (spec.equivocationLock) this.lockOnly += spec.equivocationLock.count ?? 1;
    if (spec.congestion) this.congested += spec.congestion.count ?? 1;
    if (spec.readLagMs !== undefined) this.readLagMs = spec.readLagMs;
    if (spec.rejectFilters !== undefined) this.rejectFilters = spec.rejectFilters;
    if (spec.scanLimit !== undefined) {
      if (!Number.isInteger(spec.scanLimit) || spec.scanLimit < 1) throw new Error(`scanLimit: expected a positive integer, got ${spec.scanLimit}`);
      this.scanLimit = spec.scanLimit;
    }
    for (const m of spec.unimplemented ?? []) this.unimplemented.add(m);
  }

  private take<T extends { method: string; remaining: number }>(list: T[], method: string): T | undefined {
    const f = list.find((x) => x.remaining > 0 && matches(x, method));
    if (f) f.remaining -= 1;
    return f;
  }

  takeError(method: string): ErrorFault | undefined {
    if (this.unimplemented.has(method)) return { method, code: Status.UNIMPLEMENTED, message: `${method} is not available on this full node`, remaining: 0 };
    return this.take(this.errors, method);
  }

  takeDrop(method: string): DropFault | undefined {
    return this.take(this.drops, method);
  }

  takeDelay(method: string): DelayFault | undefined {
    return this.take(this.delays, method);
  }

  takeLockOnly(): boolean {
    if (this.lockOnly <= 0) return false;
    this.lockOnly -= 1;
    return true;
  }

  takeCongested(): boolean {
    if (this.congested <= 0) return false;
    this.congested -= 1;
    return true;
  }

  takeHold(): { ms: number } | undefined {
    const f = this.holds.find((x) => x.remaining > 0);
    if (f) f.remaining -= 1;
    return f;
  }

  takeExecuteTimeout(): { mode: "hang" | "error"; hangMs: number } | undefined {
    const f = this.executeTimeouts.find((x) => x.remaining > 0);
    if (f) f.remaining -= 1;
    return f;
  }
}
