/**
 * Prometheus text exposition (format 0.0.4) for the node's few metrics. Hand-written because the
 * needs are tiny (counters, gauges, one histogram family) and no metrics package is installed.
 */

type Labels = Record<string, string>;

const key = (l: Labels) => JSON.stringify(Object.entries(l).sort(([a], [b]) => a.localeCompare(b)));
const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
function fmt(l: Labels): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

interface Family {
  render(): string;
}

export class Counter implements Family {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string, readonly type: "counter" | "gauge" = "counter") {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const cur = this.values.get(k);
    if (cur) cur.value += by;
    else this.values.set(k, { labels, value: by });
  }
  set(labels: Labels, value: number): void {
    this.values.set(key(labels), { labels, value });
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${fmt(labels)} ${value}`);
    return lines.join("\n");
  }
}

export class Histogram implements Family {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}
  observe(labels: Labels, value: number): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]!++;
    });
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${fmt({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${fmt({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${fmt(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${fmt(s.labels)} ${s.count}`);
    }
    return lines.join("\n");
  }
}

/** Every metric the node exports. One instance per node; gauges read from the store at scrape time. */
export class NodeMetrics {
  readonly jobs = new Counter("atoma_jobs", "Jobs in the store by state", "gauge");
  readonly tokens = new Counter("atoma_tokens_generated_total", "Output tokens generated, by model and source (job or rpc)");
  readonly generation = new Histogram("atoma_generation_seconds", "Generation latency by model", [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
  ]);
  readonly jobOutcomes = new Counter("atoma_job_outcomes_total", "Finished generation attempts by model and outcome");
  readonly notServable = new Counter("atoma_jobs_not_servable_total", "Prompts selected for a model this node does not host");
  readonly txFailures = new Counter("atoma_tx_failures_total", "Commitment transaction failures by kind");
  readonly commitments = new Counter("atoma_commitments_total", "Commitments accepted on chain, by first-submission flag");
  readonly cursor = new Counter("atoma_chain_cursor_checkpoint", "Last fully processed checkpoint", "gauge");
  readonly chainLag = new Counter("atoma_chain_lag_checkpoints", "Chain tip minus the processed cursor (checkpoints)", "gauge");
  readonly disputes = new Counter("atoma_disputes_total", "DisputeEvents seen");
  readonly apiRequests = new Counter("atoma_api_requests_total", "OpenAI-compatible API generations by model and outcome (ok, cancelled, timeout, rejected, error)");
  readonly rpcRequests = new Counter("atoma_rpc_requests_total", "JSON-RPC/HTTP requests by method and outcome");
  readonly webhook = new Counter("atoma_webhook_posts_total", "Output webhook deliveries by outcome");

  render(): string {
    return (
      [
        this.jobs, this.tokens, this.generation, this.jobOutcomes, this.notServable, this.txFailures, this.commitments,
        this.cursor, this.chainLag, this.disputes, this.apiRequests, this.rpcRequests, this.webhook,
      ]
        .map((f) => f.render())
        .join("\n") + "\n"
    );
  }
}
