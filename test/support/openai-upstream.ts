/**
 * The test upstream as its own process (so a test can SIGKILL it mid-run):
 *
 *   bun test/support/openai-upstream.ts --kind vllm --model stories260k [--port 0] [--token-delay-ms 20]
 *
 * Prints `listening <url>` once it accepts connections.
 */
import { parseArgs } from "node:util";
import { startUpstream, type FakeKind } from "./openai-upstream/index.ts";

const { values: a } = parseArgs({
  options: {
    kind: { type: "string", default: "vllm" },
    model: { type: "string", default: "model" },
    port: { type: "string", default: "0" },
    "token-delay-ms": { type: "string", default: "0" },
    "api-key": { type: "string" },
  },
});
const up = await startUpstream(
  { kind: a.kind as FakeKind, model: a.model!, tokenDelayMs: Number(a["token-delay-ms"]), apiKey: a["api-key"] },
  Number(a.port),
);
console.log(`listening ${up.url}`);
