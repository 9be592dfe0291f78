/**
 * `atoma-node init [dir] [--force]`: writes the example configuration files into `dir` (default
 * the current directory). The texts are embedded (imported as text) so the compiled binary can
 * write them with no repository beside it. Existing files are never overwritten without --force.
 */
import { defineCommand } from "citty";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { selfCommand } from "../invocation.ts";
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
    // Invocations that work from here: the way this program was started, paths relative to cwd.
    const self = selfCommand();
    const rel = (name: string) => {
      const r = relative(process.cwd(), join(dir, name));
      return shellWord(r.startsWith("..") ? join(dir, name) : r);
    };
    process.stderr.write(
      `Next: try local mode (serves the built-in stories260K model):\n` +
        `  ${self} run --config ${rel("local.toml")}\n` +
        `or put your package, AtomaDb, NodeBadge and small id into ${rel("atoma-node.toml")}, then check and run it:\n` +
        `  ${self} doctor --config ${rel("atoma-node.toml")}\n` +
        `  ${self} run --config ${rel("atoma-node.toml")}\n`,
    );
  },
});

/** A path as one shell word (quoted when it has spaces or shell characters). */
function shellWord(s: string): string {
  return /^[\w./@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
