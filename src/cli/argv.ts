/**
 * Checks the command line against the command tree before citty runs it, because citty ignores
 * unknown options and answers an unknown command with its whole usage text and exit 1. Here both
 * are one line on stderr with a hint that works, and exit 2 (bad input). `--help`/`-h` anywhere
 * and `--version`/`-v` at the top are left to citty.
 */
import type { ArgsDef, CommandDef } from "citty";

type Resolvable<T> = T | Promise<T> | (() => T) | (() => Promise<T>);

async function resolve<T>(v: Resolvable<T> | undefined): Promise<T | undefined> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();

/** Edit distance with adjacent transpositions (optimal string alignment). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      // A swapped pair ("rnu" for "run") is one typo.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

function suggest(word: string, known: string[]): string {
  const best = known.map((k) => [k, distance(word, k)] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= Math.max(1, Math.floor(word.length / 3)) ? best[0] : "";
}

/** `undefined` when the command line is acceptable, else the one-line error (without the hint). */
export async function checkArgv(root: CommandDef, argv: readonly string[]): Promise<{ error: string; path: string[] } | undefined> {
  let cmd: CommandDef | undefined = root;
  const path: string[] = [];
  let i = 0;
  while (cmd) {
    const subs = await resolve(cmd.subCommands);
    const args: ArgsDef = (await resolve(cmd.args)) ?? {};
    const flags = new Map<string, ArgsDef[string]>();
    for (const [name, def] of Object.entries(args)) {
      if (def.type === "positional") continue;
      flags.set(name, def);
      flags.set(kebab(name), def);
      const alias = "alias" in def ? def.alias : undefined;
      for (const a of Array.isArray(alias) ? alias : alias ? [alias] : []) flags.set(a, def);
    }
    let next: CommandDef | undefined;
    for (; i < argv.length && !next; i++) {
      const tok = argv[i]!;
      if (tok === "--") return undefined;
      if (tok.startsWith("-") && tok !== "-" && !/^-\d/.test(tok)) {
        const [rawName, inline] = tok.replace(/^--?/, "").split(/=(.*)/s, 2) as [string, string | undefined];
        if (rawName === "help" || rawName === "h") return undefined;
        if (path.length === 0 && (rawName === "version" || rawName === "v")) return undefined;
        let def = flags.get(rawName);
        if (!def && rawName.startsWith("no-") && flags.get(rawName.slice(3))?.type === "boolean") def = flags.get(rawName.slice(3));
        if (!def) {
          const known = [...new Set(Object.entries(args).filter(([, d]) => d.type !== "positional").map(([n]) => kebab(n)))];
          const near = suggest(rawName, known);
          const where = ["atoma-node", ...path].join(" ");
          const list = known.length ? `; options: ${known.map((k) => `--${k}`).join(", ")}` : "; it takes no options";
          return { error: `${where}: unknown option ${tok.split("=")[0]}${near ? ` (did you mean --${near}?)` : ""}${list}`, path };
        }
        if ((def.type === "string" || def.type === "enum") && inline === undefined) i++;
        continue;
      }
      if (subs) {
        const names = Object.keys(subs);
        if (!names.includes(tok)) {
          const near = suggest(tok, names);
          const where = ["atoma-node", ...path].join(" ");
          return { error: `${where}: unknown command "${tok}"${near ? ` (did you mean "${near}"?)` : ""}; commands: ${names.join(", ")}`, path };
        }
        path.push(tok);
        next = await resolve(subs[tok] as Resolvable<CommandDef>);
      }
    }
    cmd = next;
  }
  return undefined;
}
