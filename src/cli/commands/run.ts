/**
 * `atoma-node run`: load and validate the configuration, log it (secrets masked), start the node,
 * and stop it cleanly on SIGINT/SIGTERM (a second signal forces exit).
 */
import { defineCommand } from "citty";
import { configArgs, sourcesFromArgs } from "../../config/cli-args.ts";
import { ConfigError, exitOnConfigError } from "../../config/errors.ts";
import { loadConfig } from "../../config/load.ts";
import { describeConfig } from "../../config/describe.ts";
import { applyTracing, log } from "../../log/logger.ts";
import { provisionDefaultModel } from "../../models/default-model.ts";
import { StartupInputError, startNode } from "../../node.ts";
import { VERSION } from "../../version.ts";

interface NodeHandle {
  stop(reason?: string): Promise<void>;
  done: Promise<void>;
}

/** Extra time on top of `shutdown_timeout_ms` before giving up on a stop that hangs. */
const STOP_GRACE_MS = 2000;

export default defineCommand({
  meta: { name: "run", description: "Run the node (chain mode with event_subscriber + client, else local mode)" },
  args: configArgs,
  async run({ args }) {
    const config = await exitOnConfigError(() => loadConfig(sourcesFromArgs(args)));
    applyTracing(config.inference.tracing);
    const mode = config.eventSubscriber ? "chain" : "local";
    log.info(`atoma-node ${VERSION} starting in ${mode} mode (config: ${config.sources.join(", ")})`);
    log.info("effective configuration (secrets masked):");
    for (const line of describeConfig(config)) log.info(`  ${line}`);

    const controller = new AbortController();
    let stopping: Promise<void> | undefined;
    let handle: NodeHandle | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn(`${signal} again: forcing exit`);
        process.exit(1);
      }
      log.info(`${signal} received: stopping (at most ${config.node.shutdownTimeoutMs} ms)`);
      controller.abort(signal);
      stopping = stopWithin(handle, signal, config.node.shutdownTimeoutMs + STOP_GRACE_MS);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    try {
      for (const m of config.inference.models) {
        if (await provisionDefaultModel(m)) log.info(`model ${m.modelId}: converted the embedded stories260K into ${m.path}`);
      }
      handle = await startNode(config, { signal: controller.signal });
      // A signal that arrived while starting: stop now that there is something to stop.
      if (stopping) stopping = stopWithin(handle, String(controller.signal.reason), config.node.shutdownTimeoutMs + STOP_GRACE_MS);
      else log.info("node started");
      await handle.done;
      if (stopping) await stopping;
      log.info("node stopped");
      process.exit(0);
    } catch (e) {
      // A signal during start-up (e.g. while a model is being pulled): an ordinary stop; a pulled
      // file's bytes stay in the cache for the next start to resume.
      if (controller.signal.aborted) {
        log.info(`stopped during start-up (${String(controller.signal.reason)})`);
        process.exit(0);
      }
      if (e instanceof ConfigError || e instanceof StartupInputError) {
        process.stderr.write(`${e.message}\n`);
        process.exit(2);
      }
      log.error(`node failed: ${e instanceof Error ? e.message : String(e)}`);
      log.debug(e);
      process.exit(1);
    }
  },
});

async function stopWithin(handle: NodeHandle | undefined, reason: string, ms: number): Promise<void> {
  if (!handle) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn(`shutdown took longer than ${ms} ms; exiting anyway`);
      process.exit(1);
      resolve();
    }, ms);
  });
  try {
    await Promise.race([handle.stop(reason), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
