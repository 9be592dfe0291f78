/**
 * `.ci/run`'s summary and exit status, with `npm` replaced on PATH by a script that prints what bun
 * prints (the real command runs the whole suite, which cannot run inside itself).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = mkdtempSync(join(tmpdir(), "atoma-ci-run-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function ciRun(npmScript: string) {
  const dir = mkdtempSync(join(root, "checkout-"));
  mkdirSync(join(dir, ".ci"));
  mkdirSync(join(dir, "bin"));
  copyFileSync(join(import.meta.dir, "..", "..", ".ci", "run"), join(dir, ".ci", "run"));
  writeFileSync(join(dir, "bin", "npm"), `#!/usr/bin/env bash\n${npmScript}\n`);
  chmodSync(join(dir, "bin", "npm"), 0o755);
  const p = Bun.spawn(["bash", join(dir, ".ci", "run")], {
    cwd: dir,
    env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  return { lastLine: stdout.trimEnd().split("\n").pop(), stdout, code };
}

describe(".ci/run", () => {
  test("all passing: `N passed, 0 failed`, exit 0, test output shown", async () => {
    const r = await ciRun(`[ "$1" = install ] && exit 0; echo "(pass) a"; printf ' 5 pass\\n 0 fail\\nRan 5 tests across 1 file.\\n' >&2; exit 0`);
    expect(r.stdout).toContain("(pass) a");
    expect(r.lastLine).toBe("5 passed, 0 failed");
    expect(r.code).toBe(0);
  });

  test("a failing test: counts, exit 1", async () => {
    const r = await ciRun(`[ "$1" = install ] && exit 0; printf ' 3 pass\\n 2 fail\\n'; exit 1`);
    expect(r.lastLine).toBe("3 passed, 2 failed");
    expect(r.code).toBe(1);
  });

  test("install failure (no summary) still fails", async () => {
    const r = await ciRun(`echo "npm error network"; exit 1`);
    expect(r.lastLine).toBe("0 passed, 1 failed");
    expect(r.code).toBe(1);
  });

  test("an error outside tests (non-zero exit, 0 fail) still fails", async () => {
    const r = await ciRun(`[ "$1" = install ] && exit 0; printf ' 7 pass\\n 0 fail\\n 1 error\\n'; exit 1`);
    expect(r.lastLine).toBe("7 passed, 1 failed");
    expect(r.code).toBe(1);
  });
});
