/**
 * Admission control for API generations. Each model has a bounded queue: at most `queueSize` API
 * requests waiting for or holding its lock; one more is answered 429 with a Retry-After estimated
 * from recent generation times. Chain jobs never pass through here (they are durable in the job
 * store and claimed by the workers, which take the model lock at high priority), so API load can
 * neither refuse nor starve them: a job waits at most for the one API generation already running.
 * Per-key rate limit: a token bucket of `ratePerMinute` requests per bearer key (keys are held by
 * their SHA-256, never in clear).
 */
import { createHash } from "node:crypto";
import { DEFAULTS } from "../../config/load.ts";
import { OpenAiError } from "./errors.ts";

export interface AdmissionOptions {
  /** API requests per model allowed to wait or run at once (default 16). */
  queueSize: number;
  /** Requests per minute per bearer key; 0 = unlimited (default). */
  ratePerMinute: number;
}

export const DEFAULT_ADMISSION: AdmissionOptions = { queueSize: DEFAULTS.apiQueueSize, ratePerMinute: DEFAULTS.apiRateLimit };

class ModelQueue {
  active = 0;
  /** Exponential moving average of a request's time holding the model, ms. */
  avgMs = 1000;
}

export class Admission {
  private readonly queues = new Map<string, ModelQueue>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(readonly opts: AdmissionOptions = DEFAULT_ADMISSION) {}

  /** Current API requests (waiting + running) for a model; for metrics and tests. */
  depth(model: string): number {
    return this.queues.get(model)?.active ?? 0;
  }

  /** Takes a place in the model's queue or throws a 429; call the returned function exactly once when done. */
  enter(model: string): (busyMs?: number) => void {
    let q = this.queues.get(model);
    if (!q) this.queues.set(model, (q = new ModelQueue()));
    if (q.active >= this.opts.queueSize) {
      const wait = (q.active * q.avgMs) / 1000;
      throw new OpenAiError(429, `model ${model} has ${q.active} requests queued (the limit); retry later`, "rate_limit_error", null, "queue_full", wait);
    }
    q.active++;
    let left = false;
    return (busyMs?: number) => {
      if (left) return;
      left = true;
      q.active--;
      if (busyMs !== undefined && busyMs > 0) q.avgMs = 0.8 * q.avgMs + 0.2 * busyMs;
    };
  }

  /** Spends one request of `key`'s budget or throws a 429 saying when the next one is allowed. */
  charge(key: string | null, now = Date.now()): void {
    const rate = this.opts.ratePerMinute;
    if (rate <= 0 || key === null) return;
    const id = createHash("sha256").update(key).digest("hex");
    const perMs = rate / 60_000;
    const b = this.buckets.get(id) ?? { tokens: rate, at: now };
    b.tokens = Math.min(rate, b.tokens + (now - b.at) * perMs);
    b.at = now;
    this.buckets.set(id, b);
    if (b.tokens < 1) {
      throw new OpenAiError(429, `rate limit of ${rate} requests per minute for this API key reached`, "rate_limit_error", null, "rate_limit_exceeded", (1 - b.tokens) / perMs / 1000);
    }
    b.tokens -= 1;
  }
}
