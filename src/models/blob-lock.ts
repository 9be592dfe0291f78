/**
 * A per-blob lock file, `<cache>/.locks/models--org--name/<etag>.lock` (where the Python hub
 * client puts its locks), so two pulls of the same repo — in one process or several — never
 * write the same `.incomplete` file at once. Created with O_EXCL; holds the owner's pid, so a
 * lock left by a killed process is taken over instead of blocking forever.
 */
import { existsSync, mkdirSync } from "node:fs";
import { open, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";

const POLL_MS = 100;
const tokens = new Map<string, symbol>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Waits for the lock, runs `fn`, releases. */
export async function withBlobLock<T>(lockPath: string, fn: () => Promise<T>, signal?: AbortSignal, onDirCreated?: (dir: string) => void): Promise<T> {
  if (!existsSync(dirname(lockPath))) {
    mkdirSync(dirname(lockPath), { recursive: true });
    onDirCreated?.(dirname(lockPath));
  }
  const me = Symbol(lockPath);
  for (;;) {
    signal?.throwIfAborted();
    try {
      const fh = await open(lockPath, "wx");
      tokens.set(lockPath, me); // before the pid is readable, so an in-process waiter sees it held
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const owner = Number((await readFile(lockPath, "utf8").catch(() => "")).trim());
    // Our own pid with no live holder in this process: a leftover of an earlier crash of a process
    // that reused our pid, or a torn write; both are stale.
    const ownButUnheld = owner === process.pid && !tokens.has(lockPath);
    if ((Number.isInteger(owner) && owner > 0 && !alive(owner)) || ownButUnheld) {
      await rm(lockPath, { force: true });
      continue;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    if (tokens.get(lockPath) === me) tokens.delete(lockPath);
    await rm(lockPath, { force: true });
  }
}
