/** `[[models]]` tables naming a remote engine (src/config/remote-model.ts). */
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { redactText } from "../../src/log/logger.ts";
import { fixtures, merged } from "./helpers.ts";

const { tomlFile } = fixtures();
const env = { env: {}, cwd: "/work" };
const wrap = (models: string) => tomlFile(merged({ inference: `cache_dir = "/cache"\njrpc_port = 3000\n${models}\n`, subscriber: null, client: null }));
const modelsOf = (t: string) => loadConfig({ config: wrap(t) }, env).inference.models;
function errorOf(t: string): string {
  const file = wrap(t);
  try {
    loadConfig({ config: file }, env);
  } catch (e) {
    return (e as Error).message.slice(file.length + 2);
  }
  throw new Error("expected an error");
}

describe("remote engine entries", () => {
  test("vllm with two upstreams, defaults, trailing /v1 accepted, custom model name allowed", () => {
    const [m] = modelsOf(`
[[inference.models]]
model_id = "my-llama"
engine = "vllm"
urls = ["http://gpu1:8000/v1", "http://gpu2:8000/"]
served_model = "meta-llama/Meta-Llama-3-8B"
`);
    expect(m!.modelId).toBe("my-llama");
    expect(m!.remote).toEqual({
      kind: "vllm",
      urls: ["http://gpu1:8000", "http://gpu2:8000"],
      servedModel: "meta-llama/Meta-Llama-3-8B",
      apiKey: undefined,
      maxConcurrent: 4,
      timeoutMs: 60_000,
      stallTimeoutMs: 30_000,
      retries: 2,
      healthIntervalMs: 5000,
      contextLength: undefined,
      tokenizer: undefined,
    });
  });

  test("ollama with one url, api key registered as a secret, tokenizer path resolved, knobs", () => {
    const [m] = modelsOf(`
[[inference.models]]
model_id = "llama3_8b"
engine = "ollama"
url = "http://127.0.0.1:11434"
api_key = "ollama-secret-123"
max_concurrent = 2
timeout_ms = 1000
stall_timeout_ms = 500
retries = 0
health_interval_ms = 250
tokenizer = "models/llama3"
`);
    expect(m!.remote).toMatchObject({ kind: "ollama", urls: ["http://127.0.0.1:11434"], servedModel: "llama3_8b", maxConcurrent: 2, timeoutMs: 1000, stallTimeoutMs: 500, retries: 0, healthIntervalMs: 250, tokenizer: "/work/models/llama3" });
    expect(redactText("key is ollama-secret-123")).toBe("key is ***");
  });

  test("bad entries: one line naming the key and what is expected", () => {
    expect(errorOf(`[[inference.models]]\nmodel_id = "x"\nengine = "tgi"\nurl = "http://a:1"`)).toContain("models[0].engine: got string \"tgi\", expected one of \"vllm\"");
    expect(errorOf(`[[inference.models]]\nmodel_id = "x"\nengine = "vllm"`)).toContain("url");
    expect(errorOf(`[[inference.models]]\nmodel_id = "x"\nengine = "vllm"\nurls = []`)).toContain("non-empty array");
    expect(errorOf(`[[inference.models]]\nmodel_id = "x"\nengine = "vllm"\nurl = "ftp://a"`)).toContain("unsupported scheme");
    expect(errorOf(`[[inference.models]]\nmodel_id = "x"\nengine = "vllm"\nurls = ["http://a:1", "http://a:1/v1"]`)).toContain("listed twice");
    expect(errorOf(`[[inference.models]]\nmodel_id = "x"\nengine = "vllm"\nurl = "http://a:1"\npath = "/m"`)).toContain("no local model keys");
    expect(errorOf(`[[inference.models]]\nmodel_id = "x"\nengine = "vllm"\nurl = "http://a:1"\nmax_concurrent = 0`)).toContain("max_concurrent");
  });

  test("credentials in a URL are masked", () => {
    modelsOf(`[[inference.models]]\nmodel_id = "x"\nengine = "sglang"\nurl = "http://u:hunter2pass@gpu:30000"`);
    expect(redactText("GET http://u:hunter2pass@gpu:30000/health")).not.toContain("hunter2pass");
  });
});
