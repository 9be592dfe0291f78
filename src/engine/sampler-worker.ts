/**
 * The other half of sampler-pool.ts: a worker thread that runs SamplePrep.prepare (every sampling
 * step but the PRNG draw) on the rows the decode loop hands it, reading logits from and writing
 * results into shared memory. Stateless across steps: each request carries its rows' parameters
 * and penalty windows, so no row's state lives here.
 */
import { workerData } from "node:worker_threads";
import { SamplePrep } from "./sampler.ts";
import { POOL_PARAMS, POOL_WINDOW, poolViews, type PoolInit } from "./sampler-pool-layout.ts";

const v = poolViews(workerData as PoolInit);
const { ctl, vocab } = v;
let seen = 0;
Atomics.store(ctl, 3, 1);
for (;;) {
  Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  const rows = ctl[1]!;
  if (rows < 0) break;
  for (let k = 0; k < rows; k++) {
    const p = v.params.subarray(k * POOL_PARAMS, (k + 1) * POOL_PARAMS);
    const params = { maxTokens: 1, temperature: p[0]!, topK: p[1]!, topP: p[2]!, repeatPenalty: p[3]!, repeatLastN: p[4]!, seed: 0n };
    const wl = v.windows[k * (POOL_WINDOW + 1)]!;
    const history = v.windows.subarray(k * (POOL_WINDOW + 1) + 1, k * (POOL_WINDOW + 1) + 1 + wl);
    const prep = new SamplePrep(params, v.scratch[k]!);
    v.results[2 * k] = prep.prepare(v.logits.subarray(k * vocab, (k + 1) * vocab), history);
    v.results[2 * k + 1] = prep.count;
  }
  Atomics.store(ctl, 2, seen);
  Atomics.notify(ctl, 2);
}
