/**
 * Running the real CLI against the local Hugging Face test hub (test/support/hub-server), as the
 * hub tests do: an environment that points the CLI at the hub and a fresh HF_HOME, with no token or
 * cache override inherited from the machine, and one CLI call collecting its output.
 */
import { join, resolve } from "node:path";

export type Env = Record<string, string | undefined>;
export const CLI_MAIN = join(resolve(import.meta.dir, "../.."), "src", "cli", "main.ts");

/** Variables the CLI reads that must not leak in from the machine unless a test sets them. */
const HF_OVERRIDES = ["HF_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH"];

/** process.env with HF_HOME = `home`, HF_ENDPOINT = `hubUrl`, ATOMA_LOG = `log`, then `extra`. */
export function hubEnv(home: string, hubUrl: string, log: string, extra: Env = {}): Env {
  const e: Env = { ...process.env, HF_HOME: home, HF_ENDPOINT: hubUrl, ATOMA_LOG: log, ...extra };
  for (const k of HF_OVERRIDES) if (!(k in extra)) delete e[k];
  return e;
}

/** `atoma-node <args>` from source in `cwd`, to exit. */
export async function runCli(args: string[], e: Env, cwd: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const p = Bun.spawn([process.execPath, CLI_MAIN, ...args], { cwd, env: e, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}
