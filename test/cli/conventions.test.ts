/**
 * CLI conventions: an unknown command or option is one line on stderr with a hint that works, exit
 * 2; colour only on a terminal and never with NO_COLOR; hints printed by `init` are invocations
 * that work; `run` prints its effective configuration one key per line; chain connection errors
 * name the URL.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, ROOT } from "../node/harness.ts";

const MAIN = join(ROOT, "src", "cli", "main.ts");
const tmp = mkdtempSync(join(tmpdir(), "atoma-cli-conventions-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ESC = "\u001b[";

function cli(args: string[], env: Record<string, string | undefined> = {}, cwd = ROOT) {
  const p = Bun.spawnSync([process.execPath, MAIN, ...args], { cwd, env: { ...process.env, ATOMA_LOG: "warn", NO_COLOR: "", ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

/** Runs a hint as printed (`… --help`), words split on spaces, from the same directory. */
function runHint(hint: string, cwd = ROOT) {
  const words = hint.split(" ");
  const p = Bun.spawnSync(words, { cwd, env: { ...process.env, ATOMA_LOG: "warn" }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe("unknown commands and options", () => {
  for (const [args, expected, helpOf] of [
    [["frobnicate"], 'atoma-node: unknown command "frobnicate"; commands: run, init, doctor', ""],
    [["docter"], 'unknown command "docter" (did you mean "doctor"?)', ""],
    [["jobs", "lst"], 'atoma-node jobs: unknown command "lst" (did you mean "list"?); commands: list, show', "jobs"],
    [["doctor", "--jsn"], "atoma-node doctor: unknown option --jsn (did you mean --json?); options: --json, --config", "doctor"],
    [["jobs", "list", "--data-dir", "/nowhere", "--bogus=1"], "atoma-node jobs list: unknown option --bogus; options:", "jobs list"],
    [["run", "--config", "x.toml", "--frob"], "atoma-node run: unknown option --frob", "run"],
  ] as const) {
    test(`${args.join(" ")}: exit 2, one line, a hint that works`, () => {
      const r = cli([...args]);
      expect(r.code).toBe(2);
      expect(r.out).toBe("");
      const lines = r.err.trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(expected);
      const hint = /\(see `([^`]+)`\)$/.exec(lines[0]!)?.[1];
      expect(hint).toEndWith(`${helpOf ? ` ${helpOf}` : ""} --help`);
      const help = runHint(hint!);
      expect(help.code).toBe(0);
      expect(help.out).toContain("USAGE");
    });
  }

  test("known options, aliases, values and --help/--version still work", () => {
    expect(cli(["--version"]).code).toBe(0);
    expect(cli(["run", "--help"]).code).toBe(0);
    expect(cli(["commitment", "--data", "--not-a-flag", "--leaves=1"]).code).toBe(0); // a value that looks like a flag
    const j = cli(["jobs", "list", "-c", join(tmp, "none.toml")]);
    expect(j.err).not.toContain("unknown option");
  });
});

describe("colour", () => {
  const hasScript = Bun.which("script") !== null;
  test("plain when piped", () => {
    for (const args of [[], ["frob"], ["run", "--help"]]) {
      const r = cli(args);
      expect(r.out + r.err).not.toContain(ESC);
    }
  });
  test.skipIf(!hasScript)("coloured on a terminal, plain with NO_COLOR (any value) or CI set", () => {
    // An operator's terminal: CI/TEST from the environment running this suite (CI sets CI=true) removed.
    const { CI: _ci, TEST: _test, ...userEnv } = process.env;
    const term = (env: string) => {
      const cmd = `${env} ${process.execPath} ${MAIN} --help`;
      return Bun.spawnSync(["script", "-qec", cmd, "/dev/null"], { cwd: ROOT, env: { ...userEnv, TERM: "xterm", NO_COLOR: "" }, stdout: "pipe" }).stdout.toString();
    };
    expect(term("")).toContain(ESC);
    expect(term("NO_COLOR=yes")).not.toContain(ESC);
    expect(term("NO_COLOR=yes")).toContain("USAGE");
    expect(term("CI=true")).not.toContain(ESC);
    expect(term("CI=true")).toContain("USAGE");
  });
});

describe("init's hints are invocations that work", () => {
  test("the printed doctor and run lines run as printed", async () => {
    const r = cli(["init", join(tmp, "cfg")], {}, tmp);
    expect(r.code).toBe(0);
    const hints = r.err.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim());
    expect(hints).toHaveLength(3);
    const doctor = hints.find((h) => h.includes(" doctor --config "))!;
    // The example chain config is not a deployment: its checks fail (exit 1), but the command ran.
    const port = await freePort();
    const d = Bun.spawnSync(doctor.split(" "), { cwd: tmp, env: { ...process.env, ATOMA_LOG: "warn", ATOMA_EVENT_SUBSCRIBER__HTTP_URL: `http://127.0.0.1:${port}` }, stdout: "pipe", stderr: "pipe" });
    expect(d.exitCode).toBe(1);
    expect(d.stdout.toString()).toContain("what run needs:");

    // The local-mode line starts a node that serves the built-in model, and prints its configuration.
    const local = hints.find((h) => h.includes(" run --config ") && h.endsWith("local.toml"))!;
    const p = Bun.spawn(local.split(" "), { cwd: tmp, env: { ...process.env, ATOMA_LOG: "info", ATOMA_INFERENCE__JRPC_PORT: String(port) }, stdout: "pipe", stderr: "pipe" });
    try {
      let err = "";
      const reader = p.stderr.getReader();
      const deadline = Date.now() + 60_000;
      while (!err.includes("node started") && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        err += new TextDecoder().decode(value);
      }
      expect(err).toContain("node started");
      expect(err).toMatch(/INFO {4}inference\.jrpc_port = \d+\n/);
      expect(err).toMatch(/INFO {4}inference\.models\[0\]\.model_id = "stories260k"\n/);
      expect(err).toMatch(/INFO {4}node\.webhook_url = \(unset\)\n/);
      const g = (await (await fetch(`http://127.0.0.1:${port}`, { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "generate", params: { prompt: "Once upon a time", max_tokens: 8 } }) })).json()) as { result: { output_tokens: number } };
      expect(g.result.output_tokens).toBe(8);
    } finally {
      p.kill("SIGINT");
      await p.exited;
    }
  }, 120_000);
});

describe("chain connection errors name the URL", () => {
  test("the follower's and doctor's errors for an unreachable full node", async () => {
    const { createSuiClient } = await import("../../src/chain/client.ts");
    const url = `http://127.0.0.1:${await freePort()}`;
    const client = createSuiClient({ network: "localnet", httpUrl: url });
    const e = await client.core.getChainIdentifier().then(() => undefined, (x: Error) => x);
    expect(e?.message).toStartWith(`${url}: `);
    // A provider key in the URL (user info, query) is never part of the message.
    const keyed = createSuiClient({ network: "localnet", httpUrl: `${url.replace("http://", "http://user:s3cret@")}/?token=k3y` });
    const k = await keyed.core.getChainIdentifier().then(() => undefined, (x: Error) => x);
    expect(k?.message).toStartWith(`${url}: `);
    expect(k?.message).not.toMatch(/s3cret|k3y/);
    // An abort stays an abort (shutdown must not look like a network failure).
    const ctl = new AbortController();
    ctl.abort();
    const a = await client.core.getObject({ objectId: "0x5", signal: ctl.signal }).then(() => undefined, (x: Error) => x);
    expect(a?.message ?? "").not.toContain(url);
  });
});
