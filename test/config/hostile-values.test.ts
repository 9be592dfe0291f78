/**
 * Config errors never echo secrets and never carry hostile bytes raw (issue 8, defects 4 and 5):
 * a secret-typed key with a wrong type is described by its kind only; control characters are
 * escaped; long values are cut to a short prefix.
 */
import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../src/config/errors.ts";
import { loadConfig } from "../../src/config/load.ts";
import { redactText } from "../../src/log/redact.ts";
import { CLIENT, fixtures, INFERENCE, merged, SUBSCRIBER } from "./helpers.ts";

const { tomlFile } = fixtures();

function errorOf(text: string | Uint8Array, env: Record<string, string> = {}): string {
  const file = tomlFile(typeof text === "string" ? text : Buffer.from(text).toString("latin1"));
  try {
    loadConfig({ config: file }, { env, cwd: "/work" });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

describe("secret-typed keys never echo their value (defect 4)", () => {
  for (const [what, value] of [["integer", "1234567890123"], ["float", "1234567.25"], ["array", '["hf_arr_secret_1"]'], ["table", '{ v = "hf_tab_secret_2" }'], ["boolean", "true"]] as const) {
    test(`api_key = ${what}`, () => {
      const msg = errorOf(merged({ inference: INFERENCE.replace('api_key = "hf_test_secret_key"', `api_key = ${value}`) }));
      expect(msg).toEndWith(`inference.api_key: got ${what === "integer" ? "an integer" : what === "array" ? "an array" : `a ${what}`} (value not shown: secret), expected a string (quote it)`);
      for (const part of ["1234567890123", "1234567", "hf_arr_secret_1", "hf_tab_secret_2", "true"]) expect(msg).not.toContain(part);
    });
  }

  test("ATOMA_INFERENCE__JRPC_TOKEN=55555555555 (a TOML integer) is not echoed, and is masked from then on", () => {
    const msg = errorOf(merged(), { ATOMA_INFERENCE__JRPC_TOKEN: "55555555555" });
    expect(msg).toBe("environment: ATOMA_INFERENCE__JRPC_TOKEN: got an integer (value not shown: secret), expected a string (quote it)");
    expect(redactText("token was 55555555555")).toBe("token was ***");
  });
});

test("a remote engine's api_key is secret-typed too", () => {
  const models = `[[inference.models]]\nmodel_id = "x"\nengine = "vllm"\nurl = "http://gpu1:8000"\napi_key = 987654321987`;
  const msg = errorOf(merged({ inference: `cache_dir = "/cache"\njrpc_port = 3000\n${models}\n`, subscriber: null, client: null }));
  expect(msg).toEndWith("inference.models[0].api_key: got an integer (value not shown: secret), expected a string (quote it)");
  expect(msg).not.toContain("987654321987");
});

describe("hostile config values are shown short and escaped (defect 5)", () => {
  test("control characters in a value are escaped, never written raw", () => {
    const msg = errorOf(merged({ subscriber: SUBSCRIBER.replace('package_id = "0x', 'package_id = "\\u0000\\u001b[31m\\u202e0x') }));
    expect(msg).not.toMatch(RAW_CONTROL);
    expect(msg).not.toContain("\u202e");
    expect(msg).toContain("\\u0000\\u001b[31m\\u202e0x");
  });

  test("a raw NUL byte in the file and in a key name: the syntax error is escaped", () => {
    const msg = errorOf(`[inference]\napi_key = "a\u0000b"\n`);
    expect(msg).not.toMatch(RAW_CONTROL);
    const key = errorOf(merged({ client: CLIENT.replace("small_id = 7", '"small\\u0000id" = 7') }));
    expect(key).not.toMatch(RAW_CONTROL);
  });

  test("a 100 kB value is cut to a short prefix", () => {
    const msg = errorOf(merged({ subscriber: SUBSCRIBER.replace(/package_id = "[^"]*"/, `package_id = "${"x".repeat(100_000)}"`) }));
    expect(msg.length).toBeLessThan(400);
    expect(msg).toContain("(100000 chars)");
  });
});
