/**
 * `atoma-node jobs list [--state S] [--json]` and `atoma-node jobs show <ticket_id>`: read the job
 * store of a node (found through its configuration, or `--data-dir`). Safe while the node runs
 * (SQLite WAL readers do not block the writer).
 */
import { defineCommand } from "citty";
import { fail } from "../fail.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { jobView } from "../../api/views.ts";
import { parseObjectId } from "../../chain/object-id.ts";
import { configArgs, hasConfigArgs, sourcesFromArgs } from "../../config/cli-args.ts";
import { exitOnConfigError } from "../../config/errors.ts";
import { loadConfig } from "../../config/load.ts";
import { SqliteJobStore } from "../../jobs/sqlite-store.ts";
import { JOB_STATES, type JobRecord, type JobState } from "../../jobs/types.ts";


const storeArgs = {
  ...configArgs,
  "data-dir": { type: "string", description: "Node state directory holding jobs.sqlite (instead of the config)" },
} as const;

async function openStore(args: Record<string, string | boolean | string[] | undefined>): Promise<SqliteJobStore> {
  let dir = typeof args["data-dir"] === "string" ? args["data-dir"] : undefined;
  if (!dir) {
    const sources = sourcesFromArgs(args);
    if (!hasConfigArgs(sources)) fail("give the node configuration (--config <file> or the seed flags) or --data-dir <dir>");
    dir = (await exitOnConfigError(() => loadConfig(sources))).node.dataDir;
  }
  const path = join(dir, "jobs.sqlite");
  if (!existsSync(path)) fail(`no job store at ${path} (has the node run in chain mode with this data_dir?)`);
  try {
    return new SqliteJobStore(path);
  } catch (e) {
    fail(`cannot open job store ${path}: ${(e as Error).message}`);
  }
}

const short = (t: string) => (t.length > 14 ? `${t.slice(0, 8)}…${t.slice(-4)}` : t);
function row(j: JobRecord): string[] {
  return [
    String(j.id), short(j.ticketId), `${j.leafIndex}/${j.numLeaves}`, j.model, j.state + (j.firstSubmission ? "*" : ""),
    j.outputTokens === null ? "-" : String(j.outputTokens), new Date(j.updatedAtMs).toISOString().slice(0, 19), (j.error ?? "").slice(0, 60),
  ];
}
function table(rows: string[][]): string {
  const head = ["ID", "TICKET", "LEAF", "MODEL", "STATE", "OUT_TOK", "UPDATED", "ERROR"];
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join("  ").trimEnd()).join("\n");
}

const list = defineCommand({
  meta: { name: "list", description: "List recent jobs, newest first (STATE * = this node was the first submitter)" },
  args: {
    ...storeArgs,
    state: { type: "string", description: `Only jobs in this state: ${JOB_STATES.join(", ")}` },
    limit: { type: "string", description: "At most this many jobs", default: "50" },
    json: { type: "boolean", description: "One JSON array instead of a table" },
  },
  async run({ args }) {
    if (args.state !== undefined && !JOB_STATES.includes(args.state as JobState)) fail(`--state ${args.state} is not one of ${JOB_STATES.join(", ")}`);
    if (!/^\d+$/.test(args.limit) || Number(args.limit) < 1) fail(`--limit ${args.limit} is not a positive integer`);
    const store = await openStore(args);
    try {
      const jobs = store.list({ state: args.state as JobState | undefined, limit: Number(args.limit) });
      if (args.json) process.stdout.write(JSON.stringify(jobs.map(jobView), null, 2) + "\n");
      else process.stdout.write((jobs.length ? table(jobs.map(row)) : "no jobs") + "\n");
    } finally {
      store.close();
    }
  },
});

/** Shortest unique-looking prefix accepted for a ticket (`0x` + 4 hex digits). */
const MIN_PREFIX_HEX = 4;

/**
 * A ticket as the user typed it: the full id, a unique prefix (`0x272e5a`), or the shortened form
 * `jobs list` prints (`0x272e5a3c…a22b`, also with `...`). `undefined` when nothing matches.
 */
function resolveTicket(store: SqliteJobStore, raw: string): string | undefined {
  const text = raw.trim().toLowerCase();
  const m = /^(?:0x)?([0-9a-f]+)(?:…|\.\.\.)?([0-9a-f]*)$/.exec(text);
  if (!m) fail(`ticket id ${JSON.stringify(raw)} is not a hex object id, a prefix of one, or the 0x1234abcd…ef01 form jobs list prints`);
  const [, head, tail] = m as unknown as [string, string, string];
  const elided = /…|\.\.\./.test(text);
  if (!elided) {
    const exact = parseObjectId(`0x${head}`);
    if (exact && store.byTicket(exact).length > 0) return exact;
    if (head.length === 64) return undefined;
  }
  if (head.length < MIN_PREFIX_HEX) return undefined;
  const found = store.ticketsMatching(`0x${head}`, tail);
  if (found.length > 1) fail(`ticket id ${JSON.stringify(raw)} matches several tickets (${found.join(", ")}${found.length === 5 ? ", …" : ""}); give more digits`);
  return found[0];
}

const show = defineCommand({
  meta: { name: "show", description: "Everything stored about one ticket (JSON); a unique prefix or the id as jobs list prints it also works" },
  args: { ...storeArgs, ticket_id: { type: "positional", description: "Ticket object id (0x…), a unique prefix, or 0x1234abcd…ef01 as in jobs list", required: true } },
  async run({ args }) {
    const raw = String(args.ticket_id);
    const store = await openStore(args);
    try {
      const id = resolveTicket(store, raw);
      const jobs = id ? store.byTicket(id) : [];
      if (!id || jobs.length === 0) {
        process.stderr.write(`error: no job for ticket ${id ?? parseObjectId(raw) ?? raw}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(JSON.stringify({ ticket_id: id, jobs: jobs.map(jobView) }, null, 2) + "\n");
    } finally {
      store.close();
    }
  },
});

export default defineCommand({
  meta: { name: "jobs", description: "Inspect the node's job store" },
  subCommands: { list, show },
});
