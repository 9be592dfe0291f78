import { describe, expect, test } from "bun:test";
import { levelFromEnv, parseLogFilter } from "../../src/log/logger.ts";
import { MASK, redact, redactText, registerSecret } from "../../src/log/redact.ts";

describe("log level from ATOMA_LOG / RUST_LOG", () => {
  test.each([
    ["error", "error"],
    ["WARN", "warn"],
    ["info", "info"],
    ["debug", "debug"],
    ["trace", "trace"],
    ["off", "silent"],
    ["info,atoma=debug", "debug"],
    ["atoma_node=trace,hyper=warn", "trace"],
    ["debug,atoma=info", "debug"],
    ["warn,tokio=trace", "warn"],
    ["hyper=trace", undefined],
    ["", undefined],
    ["loud", undefined],
  ])("%j → %s", (filter, level) => {
    expect(parseLogFilter(filter)).toBe(level as never);
  });

  test("ATOMA_LOG wins over RUST_LOG; default info", () => {
    expect(levelFromEnv({ ATOMA_LOG: "warn", RUST_LOG: "trace" })).toBe("warn");
    expect(levelFromEnv({ RUST_LOG: "debug" })).toBe("debug");
    expect(levelFromEnv({})).toBe("info");
    expect(levelFromEnv({ ATOMA_LOG: "nonsense", RUST_LOG: "error" })).toBe("error");
  });
});

describe("secret masking", () => {
  test("registered values are masked inside any text", () => {
    registerSecret("hf_abcdefghijkl");
    expect(redactText("token=hf_abcdefghijkl; again hf_abcdefghijkl")).toBe(`token=${MASK}; again ${MASK}`);
  });

  test("very short values are not registered (would garble every line)", () => {
    registerSecret("ab");
    expect(redactText("about a tab")).toBe("about a tab");
  });

  test("Sui bech32 private keys are masked by pattern", () => {
    const key = "suiprivkey1qzdlfxn2qa2lj5uprl8pyhexs02sg2wrhdy7qaq50cqgnffw4c2477kg9h3";
    expect(redactText(`loaded ${key} ok`)).toBe(`loaded ${MASK} ok`);
  });

  test("secret-named keys are masked in objects whatever their value; other values are kept", () => {
    const out = redact({ inference: { apiKey: "x-unregistered", jrpcToken: "t", jrpcPort: 3000, models: [{ api_key: "k" }] }, privateKey: "p", n: 7n });
    expect(out).toEqual({ inference: { apiKey: MASK, jrpcToken: MASK, jrpcPort: 3000, models: [{ api_key: MASK }] }, privateKey: MASK, n: 7n });
  });

  test("only text and bytes under a secret-named key are masked (token ids stay readable)", () => {
    expect(redact({ token: 42, privateKey: new Uint8Array([1, 2]), api_key: "" })).toEqual({ token: 42, privateKey: MASK, api_key: "" });
  });

  test("errors keep their name, lose the secret", () => {
    registerSecret("password-123456");
    const e = redact(new TypeError("bad password-123456")) as Error;
    expect(e.message).toBe(`bad ${MASK}`);
    expect(e.name).toBe("TypeError");
    expect(e.stack).not.toContain("password-123456");
  });

  test("cycles do not recurse forever", () => {
    const a: Record<string, unknown> = { name: "a" };
    a.self = a;
    const out = redact(a) as Record<string, unknown>;
    expect(out.self).toBe(out);
  });
});
