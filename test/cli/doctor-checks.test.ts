/**
 * `doctor --config` checks what `run` needs, against the local Sui test server (a real gRPC
 * full-node substitute, test/support/sui-server): with everything in place every check passes
 * and it exits 0; each missing piece — model, key file, full node, package, AtomaDb, NodeBadge —
 * fails its own check, named, and the exit code is 1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureStories260k } from "../support/models.ts";
import { freePort, makeEnv, ROOT, type Env } from "../node/harness.ts";

let env: Env;
let otherBadge: string;
beforeAll(async () => {
  const other = new Ed25519Keypair();
  env = await makeEnv({ modelDir: await ensureStories260k(), extraNodes: [{ address: other.toSuiAddress(), smallId: 2 }] });
  otherBadge = env.server.admin.info().nodes.find((n) => Number(n.smallId) === 2)!.badgeId;
}, 60_000);
afterAll(async () => {
  await env.server.stop();
  rmSync(env.dir, { recursive: true, force: true });
});

interface Check { name: string; ok: boolean; detail: string }

async function doctor(config: string, extraEnv: Record<string, string> = {}, json = true) {
  const p = Bun.spawn([process.execPath, join(ROOT, "src/cli/main.ts"), "doctor", ...(json ? ["--json"] : []), "--config", config], {
    cwd: env.dir,
    env: { ...process.env, ATOMA_LOG: "warn", ATOMA_SUI_PRIVATE_KEY: "", ...extraEnv },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

const checksOf = (out: string): Check[] => JSON.parse(out).checks;
const failed = (checks: Check[]) => checks.filter((c) => !c.ok).map((c) => c.name);

describe("doctor: what run needs", () => {
  test("everything in place: every check passes, exit 0", async () => {
    const r = await doctor(env.configPath);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.ok).toBe(true);
    const checks: Check[] = report.checks;
    expect(checks.map((c) => c.name)).toEqual(["model stories260k", "signer", "full node", "package", "AtomaDb", "NodeBadge", "gas"]);
    expect(failed(checks)).toEqual([]);
    const by = Object.fromEntries(checks.map((c) => [c.name, c.detail]));
    expect(by["model stories260k"]).toContain("loads: llama, fp32 on cpu, vocabulary 512");
    expect(by["model stories260k"]).toContain("a lone job decodes at 1 row (dense graph)");
    expect(by.signer).toContain(env.key.toSuiAddress());
    expect(by["full node"]).toContain(env.server.url);
    expect(by.NodeBadge).toContain("owned by the signer");

    const human = await doctor(env.configPath, {}, false);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/^ {2}\[ok\] {3}signer +0x[0-9a-f]{64} \(ED25519/m);
    expect(human.out).toContain("all 7 checks passed");
    expect(human.out).not.toContain("\u001b["); // not a terminal: no colour
  }, 120_000);

  test("each missing piece fails its own check, named, exit 1", async () => {
    const noModel = join(env.dir, "no-model.toml");
    writeFileSync(noModel, readFileSync(env.configPath, "utf8").replace(/model_id = "stories260k"\npath = "[^"]+"/, `model_id = "mine"\npath = "${join(env.dir, "nowhere")}"`));
    const closed = `http://127.0.0.1:${await freePort()}`;
    const [model, key, node, pkg, db, badge] = await Promise.all([
      doctor(noModel),
      doctor(env.configPath, { ATOMA_CLIENT__CONFIG_PATH: join(env.dir, "missing", "client.yaml") }),
      doctor(env.configPath, { ATOMA_EVENT_SUBSCRIBER__HTTP_URL: closed }),
      doctor(env.configPath, { ATOMA_CLIENT__PACKAGE_ID: "0xabc123" }),
      doctor(env.configPath, { ATOMA_CLIENT__ATOMA_DB_ID: "0xdb0dead" }),
      doctor(env.configPath, { ATOMA_CLIENT__NODE_BADGE_ID: otherBadge }),
    ]);
    for (const r of [model, key, node, pkg, db, badge]) expect(r.code).toBe(1);

    const m = checksOf(model.out);
    expect(failed(m)).toEqual(["model mine"]);
    expect(m[0]!.detail).toContain(`model folder ${join(env.dir, "nowhere")} does not exist`);

    const k = checksOf(key.out);
    expect(failed(k)).toEqual(["signer", "NodeBadge", "gas"]);
    expect(k.find((c) => c.name === "signer")!.detail).toContain(join(env.dir, "missing", "client.yaml"));

    const n = checksOf(node.out);
    expect(failed(n)).toEqual(["full node", "package", "AtomaDb", "NodeBadge", "gas"]);
    expect(n.find((c) => c.name === "full node")!.detail).toStartWith(`${closed} unreachable: `);
    expect(n.find((c) => c.name === "package")!.detail).toContain(closed);

    const p = checksOf(pkg.out);
    expect(failed(p)).toEqual(["package"]);
    expect(p.find((c) => c.name === "package")!.detail).toMatch(/^client\.package_id 0x0+abc123 does not exist on http/);

    const d = checksOf(db.out);
    expect(failed(d)).toEqual(["AtomaDb"]);
    expect(d.find((c) => c.name === "AtomaDb")!.detail).toMatch(/^client\.atoma_db_id 0x0+db0dead does not exist on http/);

    const b = checksOf(badge.out);
    expect(failed(b)).toEqual(["NodeBadge"]);
    expect(b.find((c) => c.name === "NodeBadge")!.detail).toContain(`is owned by 0x`);
    expect(b.find((c) => c.name === "NodeBadge")!.detail).toContain(`not by the signer ${env.key.toSuiAddress()}`);
  }, 180_000);
});
