/**
 * How the user can run this program again, for hints and errors ("see `… --help`", `init`'s next
 * step): the compiled binary by the name or path that works from here, `npm run atoma-node --`
 * when started through npm, else Bun on the source entry point.
 */
import { basename, delimiter, dirname, isAbsolute, relative, resolve } from "node:path";

function compiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/i.test(Bun.main);
}

function shortPath(p: string): string {
  const rel = relative(process.cwd(), p);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return p;
  return rel.includes("/") || rel.includes("\\") ? rel : `./${rel}`;
}

export function selfCommand(env: Record<string, string | undefined> = process.env): string {
  if (compiled()) {
    const exe = process.execPath;
    const onPath = (env.PATH ?? "").split(delimiter).some((d) => d && resolve(d) === dirname(exe));
    return onPath ? basename(exe).replace(/\.exe$/i, "") : shortPath(exe);
  }
  if (env.npm_lifecycle_event === "atoma-node") return "npm run atoma-node --";
  const entry = shortPath(Bun.main);
  return Bun.which("bun") ? `bun ${entry}` : `npx bun ${entry}`;
}
