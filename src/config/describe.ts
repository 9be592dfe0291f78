/**
 * The effective configuration as `key = value` lines (`inference.jrpc_port = 3000`), for the start
 * of `run`'s log: one key per line, in the configuration files' snake_case names, secrets masked,
 * unset optional keys shown as `(unset)` so an operator sees every default that applies.
 */
import { redact } from "../log/redact.ts";
import type { NodeConfig } from "./types.ts";

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();

function value(v: unknown): string {
  if (v === undefined || v === null) return "(unset)";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return JSON.stringify(v);
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

function flatten(prefix: string, v: unknown, out: [string, string][]): void {
  if (Array.isArray(v) && v.some((x) => x !== null && typeof x === "object")) {
    if (v.length === 0) out.push([prefix, "[]"]);
    v.forEach((x, i) => flatten(`${prefix}[${i}]`, x, out));
  } else if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}.${snake(k)}` : snake(k), x, out);
  } else out.push([prefix, value(v)]);
}

export function describeConfig(config: NodeConfig): string[] {
  const out: [string, string][] = [];
  const { sources, ...sections } = config as NodeConfig & { sources?: string[] };
  flatten("", redact(sections), out);
  if (sources) out.unshift(["sources", value(sources)]);
  return out.map(([k, v]) => `${k} = ${v}`);
}
