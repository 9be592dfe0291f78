/**
 * `atoma-node init [dir] [--force]`: writes the example configuration files into `dir` (default
 * the current directory). The texts are embedded (imported as text) so the compiled binary can
 * write them with no repository beside it. Existing files are never overwritten without --force.
 */
import { defineCommand } from "citty";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import merged from "../../../config/atoma-node.toml" with { type: "text" };
import client from "../../../config/atoma-sui-client.toml" with { type: "text" };
import local from "../../../config/local.toml" with { type: "text" };
import modelConfig from "../../../config/model-config.toml" with { type: "text" };
import subscriber from "../../../config/sui-subscriber.toml" with { type: "text" };

/** File name → contents, in the order they are written and reported. */
export const EXAMPLE_FILES: ReadonlyArray<readonly [string, string]> = [
  ["atoma-node.toml", merged as string],
  ["local.toml", local as string],
  ["model-config.toml", modelConfig as string],
  ["sui-subscriber.toml", subscriber as string],
  ["atoma-sui-client.toml", client as string],
];

export default defineCommand({
  meta: { name: "init", description: "Write example configuration files into a folder" },
  args: {
    dir: { type: "positional", required: false, default: ".", description: "Folder to write into (created if missing)" },
    force: { type: "boolean", default: false, description: "Overwrite existing files" },
  },
  run({ args }) {
    const dir = resolve(String(args.dir ?? "."));
    const existing = EXAMPLE_FILES.map(([name]) => join(dir, name)).filter((p) => existsSync(p));
    if (existing.length > 0 && !args.force) {
      process.stderr.write(`init: ${existing.join(", ")}: already exists, expected --force to overwrite\n`);
      process.exit(2);
    }
    try {
      mkdirSync(dir, { recursive: true });
      for (const [name, text] of EXAMPLE_FILES) writeFileSync(join(dir, name), text);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      process.stderr.write(`init: ${err.path ?? dir}: cannot write (${err.code ?? err.message}), expected a writable folder\n`);
      process.exit(2);
    }
    for (const [name] of EXAMPLE_FILES) process.stdout.write(`${join(dir, name)}\n`);
    process.stderr.write(
      `Next: edit ${join(dir, "atoma-node.toml")} (chain mode) or run local mode with\n` +
        `  atoma-node run --config ${join(dir, "local.toml")}\n`,
    );
  },
});
