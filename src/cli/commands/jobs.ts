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

const show = defineCommand({
  meta: { name: "show", description: "Everything stored about one ticket (JSON)" },
  args: { ...storeArgs, ticket_id: { type: "positional", description: "Ticket object id (0x…)", required: true } },
  async run({ args }) {
    const raw = String(args.ticket_id);
    const id = parseObjectId(raw) ?? fail(`ticket id ${JSON.stringify(raw)} is not a hex object id`);
    const store = await openStore(args);
    try {
      const jobs = store.byTicket(id);
      if (jobs.length === 0) {
        process.stderr.write(`error: no job for ticket ${id}\n`);
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
