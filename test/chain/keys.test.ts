import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { Secp256k1Keypair } from "@mysten/sui/keypairs/secp256k1";
import { Secp256r1Keypair } from "@mysten/sui/keypairs/secp256r1";
import { decodeSuiPrivateKey } from "@mysten/sui/cryptography";
import { toBase64 } from "@mysten/sui/utils";
import { KeyLoadError, loadSigner, PRIVATE_KEY_ENV } from "../../src/chain/keys.ts";

const dir = mkdtempSync(join(tmpdir(), "atoma-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ed = Ed25519Keypair.generate();
const k1 = Secp256k1Keypair.generate();
const r1 = Secp256r1Keypair.generate();

/** Sui CLI keystore entry: base64(flag || 32-byte secret). */
function entry(kp: { getSecretKey(): string }): string {
  const { scheme, secretKey } = decodeSuiPrivateKey(kp.getSecretKey());
  const flag = { ED25519: 0, Secp256k1: 1, Secp256r1: 2 }[scheme as "ED25519"]!;
  return toBase64(Uint8Array.from([flag, ...secretKey]));
}

let n = 0;
function setup(keystore: unknown, active: string | null, extraYaml = ""): string {
  const sub = join(dir, `c${n++}`);
  require("node:fs").mkdirSync(sub);
  if (keystore !== undefined) writeFileSync(join(sub, "sui.keystore"), typeof keystore === "string" ? keystore : JSON.stringify(keystore));
  const yaml = [
    "---",
    "keystore:",
    `  File: ${join(sub, "sui.keystore")}`,
    "envs:",
    "  - alias: localnet",
    '    rpc: "http://127.0.0.1:9124"',
    "    ws: ~",
    "    basic_auth: ~",
    "active_env: localnet",
    active === null ? "active_address: ~" : `active_address: "${active}"`,
    extraYaml,
  ].join("\n");
  writeFileSync(join(sub, "client.yaml"), yaml);
  return join(sub, "client.yaml");
}

const noEnv = {};
const secrets = [ed, k1, r1].flatMap((kp) => [kp.getSecretKey(), entry(kp)]);
/** Asserts a load fails with a message containing `part` and no key material. */
function fails(fn: () => unknown, part: string) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KeyLoadError);
    const msg = (e as Error).message;
    expect(msg).toContain(part);
    expect(msg.split("\n").length).toBe(1);
    for (const s of secrets) expect(msg).not.toContain(s);
    return;
  }
  throw new Error("expected a KeyLoadError");
}

describe("keys from client.yaml + keystore", () => {
  const path = setup([entry(ed), entry(k1), r1.getSecretKey()], k1.toSuiAddress());

  test("active address selects the Secp256k1 entry", () => {
    const s = loadSigner({ configPath: path, env: noEnv });
    expect(s.address).toBe(k1.toSuiAddress());
    expect(s.scheme).toBe("Secp256k1");
  });
  test("explicit address selects Ed25519 and the suiprivkey Secp256r1 entry", () => {
    expect(loadSigner({ configPath: path, address: ed.toSuiAddress(), env: noEnv }).scheme).toBe("ED25519");
    const s = loadSigner({ configPath: path, address: r1.toSuiAddress(), env: noEnv });
    expect(s.scheme).toBe("Secp256r1");
    expect(s.keypair.getPublicKey().toSuiAddress()).toBe(r1.toSuiAddress());
  });
  test("unpadded active address is normalised", () => {
    const p = setup([entry(ed)], ed.toSuiAddress());
    expect(loadSigner({ configPath: p, env: noEnv }).address).toBe(ed.toSuiAddress());
  });
  test("signing works with the loaded key", async () => {
    const s = loadSigner({ configPath: path, env: noEnv });
    const msg = new TextEncoder().encode("hello");
    const { signature } = await s.keypair.signPersonalMessage(msg);
    expect(await k1.getPublicKey().verifyPersonalMessage(msg, signature)).toBe(true);
  });
  test("rendering a signer or its keypair never shows the secret", () => {
    const s = loadSigner({ configPath: path, address: ed.toSuiAddress(), env: noEnv });
    const secret = decodeSuiPrivateKey(ed.getSecretKey()).secretKey;
    const shown = [Bun.inspect(s), Bun.inspect(s.keypair), JSON.stringify(s), JSON.stringify(s.keypair), Bun.inspect({ nested: s })];
    for (const text of shown) {
      expect(text).not.toContain(ed.getSecretKey());
      expect(text).not.toContain(Buffer.from(secret).toString("hex"));
      expect(text).not.toContain(String(secret[0]) + ", " + String(secret[1]) + ", " + String(secret[2]));
    }
    expect(JSON.parse(JSON.stringify(s))).toEqual({ address: ed.toSuiAddress(), scheme: "ED25519", source: expect.any(String) });
    expect(s.keypair.toSuiAddress()).toBe(ed.toSuiAddress()); // still usable
  });
  test(`${PRIVATE_KEY_ENV} overrides the file`, () => {
    const s = loadSigner({ configPath: "/nonexistent/client.yaml", env: { [PRIVATE_KEY_ENV]: ed.getSecretKey() } });
    expect(s.address).toBe(ed.toSuiAddress());
    expect(s.source).toBe(PRIVATE_KEY_ENV);
    fails(() => loadSigner({ env: { [PRIVATE_KEY_ENV]: ed.getSecretKey() }, address: k1.toSuiAddress() }), "but client.address is");
    fails(() => loadSigner({ env: { [PRIVATE_KEY_ENV]: ed.getSecretKey().slice(0, -2) + "qq" } }), "not a valid suiprivkey1");
  });
});

describe("bad key configuration: one-line errors without key material", () => {
  test("missing client.yaml", () => fails(() => loadSigner({ configPath: join(dir, "none.yaml"), env: noEnv }), "none.yaml not found"));
  test("unreadable YAML", () => {
    const p = join(dir, "bad.yaml");
    writeFileSync(p, "keystore: [unclosed\n  : :");
    fails(() => loadSigner({ configPath: p, env: noEnv }), "unreadable YAML");
  });
  test("missing keystore file", () => {
    const p = setup(undefined, ed.toSuiAddress());
    fails(() => loadSigner({ configPath: p, env: noEnv }), "sui.keystore not found");
  });
  test("keystore variant without readable keys", () => {
    const p = join(dir, "inmem.yaml");
    writeFileSync(p, "keystore:\n  InMem: {}\nactive_address: ~\n");
    fails(() => loadSigner({ configPath: p, env: noEnv }), "keystore variant InMem is not supported");
  });
  test("empty keystore", () => fails(() => loadSigner({ configPath: setup([], ed.toSuiAddress()), env: noEnv }), "is empty"));
  test("keystore is not JSON", () => fails(() => loadSigner({ configPath: setup(`[${entry(ed)}`, null), env: noEnv }), "not valid JSON"));
  test("active address not in keystore", () =>
    fails(() => loadSigner({ configPath: setup([entry(ed)], k1.toSuiAddress()), env: noEnv }), `address ${k1.toSuiAddress()} is not in keystore`));
  test("unsupported scheme flag", () => {
    const multisig = toBase64(Uint8Array.from([3, ...new Uint8Array(32).fill(7)]));
    fails(() => loadSigner({ configPath: setup([multisig], null), env: noEnv }), "unsupported key scheme flag 0x03 (MultiSig)");
  });
  test("wrong entry length", () => {
    fails(() => loadSigner({ configPath: setup([toBase64(new Uint8Array(32))], null), env: noEnv }), "expected 33 bytes");
  });
  test("bad active_address", () => fails(() => loadSigner({ configPath: setup([entry(ed)], "0xnothex"), env: noEnv }), "expected a Sui address"));
  test("no key source at all", () => fails(() => loadSigner({ env: noEnv }), PRIVATE_KEY_ENV));
});
