import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SuiGrpcClient } from "@mysten/sui/grpc";
import { Transaction } from "@mysten/sui/transactions";
import { loadSigner } from "../../src/chain/keys.ts";

const ROOT = resolve(import.meta.dir, "../..");
const dir = mkdtempSync(join(tmpdir(), "sui-server-cli-"));
const procs: { kill(): void }[] = [];
afterAll(() => {
  for (const p of procs) p.kill(); // a failed assertion must not leave a server running
  rmSync(dir, { recursive: true, force: true });
});

async function startCli(...extra: string[]) {
  const proc = Bun.spawn([process.execPath, "test/support/sui-server.ts", "--port", "0", "--out", dir, "--state", join(dir, "chain.json"), ...extra], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  procs.push(proc);
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("inject a prompt")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${out}${await new Response(proc.stderr).text()}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
  const info = JSON.parse(out.slice(out.indexOf("{"), out.indexOf("\n}\n") + 2));
  return { proc, url, info };
}

describe("sui-server CLI", () => {
  test("writes a usable client.yaml/keystore/config, keeps state across restarts", async () => {
    const a = await startCli();
    const signer = loadSigner({ configPath: join(dir, "client.yaml") } as never);
    expect(signer.address).toBe(a.info.nodes[0].address);
    const toml = readFileSync(join(dir, "sui-sections.toml"), "utf8");
    expect(toml).toContain(`http_url = "${a.url}"`);
    expect(toml).toContain(`node_badge_id = "${a.info.nodes[0].badgeId}"`);

    const [p] = (await (await fetch(`${a.url}/admin/prompt`, { method: "POST", body: JSON.stringify({ nodes: [1], prompt: "hi", max_tokens: 8 }) })).json()) as { ticketId: string }[];
    const client = new SuiGrpcClient({ network: "localnet", baseUrl: a.url });
    const tx = new Transaction();
    tx.moveCall({
      target: `${a.info.packageId}::settlement::submit_commitment`,
      arguments: [tx.object(a.info.atomaDbId), tx.object(a.info.nodes[0].badgeId), tx.pure.id(p!.ticketId), tx.pure.u64(2), tx.pure.u64(8), tx.pure.vector("u8", new Uint8Array(32)), tx.pure.vector("u8", new Uint8Array(32)), tx.object.random()],
    });
    tx.setSender(signer.address);
    const res = await client.signAndExecuteTransaction({ transaction: tx, signer: signer.keypair, include: { events: true } });
    expect(res.$kind).toBe("Transaction");
    const badgeVersion = (await client.getObject({ objectId: a.info.nodes[0].badgeId })).object.version;
    a.proc.kill("SIGTERM");
    await a.proc.exited;

    const b = await startCli();
    expect(b.info.nodes[0].address).toBe(signer.address); // key reused from --out
    const commits = (await (await fetch(`${b.url}/admin/commitments?ticket=${p!.ticketId}`)).json()) as { first: boolean }[];
    expect(commits).toMatchObject([{ first: true }]);
    const client2 = new SuiGrpcClient({ network: "localnet", baseUrl: b.url });
    expect((await client2.getObject({ objectId: b.info.nodes[0].badgeId })).object.version).toBe(badgeVersion);
    expect(BigInt(b.info.tip)).toBeGreaterThanOrEqual(2n);
    b.proc.kill("SIGTERM");
    await b.proc.exited;
  }, 30_000);

  test("bad arguments: one-line error, exit code 2", async () => {
    const proc = Bun.spawn([process.execPath, "test/support/sui-server.ts", "--port", "99999"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    expect(await proc.exited).toBe(2);
    expect((await new Response(proc.stderr).text()).trim()).toBe("sui-server: --port: expected 0..65535, got 99999");
  });
});
