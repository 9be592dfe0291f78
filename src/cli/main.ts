#!/usr/bin/env bun
/**
 * `atoma-node` command line. Each subcommand lives in src/cli/commands/<name>.ts and is loaded
 * lazily so that, e.g., `atoma-node --version` never loads ONNX Runtime.
 */
// First: decides colour (terminal only, NO_COLOR honoured) before citty reads the environment.
import { colorEnabled } from "./style.ts";
import { defineCommand, runMain } from "citty";
import { VERSION } from "../version.ts";
import { checkArgv } from "./argv.ts";
import { selfCommand } from "./invocation.ts";

const main = defineCommand({
  meta: { name: "atoma-node", version: VERSION, description: "Atoma network node: deterministic inference jobs from Sui" },
  subCommands: {
    run: () => import("./commands/run.ts").then((m) => m.default),
    init: () => import("./commands/init.ts").then((m) => m.default),
    doctor: () => import("./commands/doctor.ts").then((m) => m.default),
    version: () => import("./commands/version.ts").then((m) => m.default),
    generate: () => import("./commands/generate.ts").then((m) => m.default),
    "generate-image": () => import("./commands/generate-image.ts").then((m) => m.default),
    chat: () => import("./commands/chat.ts").then((m) => m.default),
    models: () => import("./commands/models.ts").then((m) => m.default),
    events: () => import("./commands/events.ts").then((m) => m.default),
    jobs: () => import("./commands/jobs.ts").then((m) => m.default),
    commitment: () => import("./commands/commitment.ts").then((m) => m.default),
  },
});

const bad = await checkArgv(main, process.argv.slice(2));
if (bad) {
  process.stderr.write(`${bad.error} (see \`${[selfCommand(), ...bad.path, "--help"].join(" ")}\`)\n`);
  process.exit(2);
}
void colorEnabled;
await runMain(main);
