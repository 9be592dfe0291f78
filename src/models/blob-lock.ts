/**
 * A per-blob lock file, `<cache>/.locks/models--org--name/<etag>.lock` (where the Python hub
 * client puts its locks), so two pulls of the same repo — in one process or several — never
 * write the same `.incomplete` file at once. Created with O_EXCL; holds the owner's pid, so a
 * lock left by a killed process is taken over instead of blocking forever.
 */
import { existsSync, mkdirSync } from "node:fs";
import { open, readFile, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";

const POLL_MS = 100;
const FOREIGN_GRACE_MS = 2000;
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
    const text = (await readFile(lockPath, "utf8").catch(() => "")).trim();
    const owner = /^\d+$/.test(text) ? Number(text) : 0;
    // Our own pid with no live holder in this process: a leftover of an earlier crash of a process
    // that reused our pid; stale.
    const ownButUnheld = owner === process.pid && !tokens.has(lockPath);
    // No pid in it: not one of ours (the Python hub client's filelock leaves empty lock files behind
    // for good), or a writer that died between create and write. Past a short grace, take it over;
    // bytes written meanwhile by another tool would still have to pass the hash check.
    const foreign = owner === 0 && Date.now() - (await stat(lockPath).then((s) => s.mtimeMs).catch(() => 0)) > FOREIGN_GRACE_MS;
    if ((owner > 0 && !alive(owner)) || ownButUnheld || foreign) {
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
