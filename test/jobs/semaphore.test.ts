import { expect, test } from "bun:test";
import { Semaphore } from "../../src/jobs/semaphore.ts";

test("high-priority waiters (chain jobs) go before every queued normal one (API requests); FIFO within a priority", async () => {
  const s = new Semaphore(1);
  await s.acquire();
  const order: string[] = [];
  const wait = (name: string, p: "high" | "normal") => s.acquire(p).then(() => order.push(name));
  const all = [wait("api1", "normal"), wait("api2", "normal"), wait("job1", "high"), wait("api3", "normal"), wait("job2", "high")];
  expect(s.waiting).toBe(5);
  for (let i = 0; i < 6; i++) {
    s.release();
    await Bun.sleep(0);
  }
  await Promise.all(all);
  expect(order).toEqual(["job1", "job2", "api1", "api2", "api3"]);
});

test("an aborted waiter leaves the queue at once and never takes a permit", async () => {
  const s = new Semaphore(1);
  await s.acquire();
  const ctl = new AbortController();
  const gone = s.acquire("normal", ctl.signal).then(() => "granted", (e) => `rejected: ${e}`);
  const next = s.acquire("normal");
  ctl.abort("client left");
  expect(await gone).toBe("rejected: client left");
  expect(s.waiting).toBe(1);
  s.release();
  await next;
  expect(s.available).toBe(0);
  s.release();
  expect(s.available).toBe(1);
  await expect(s.acquire("normal", AbortSignal.abort("x"))).rejects.toBe("x");
});
