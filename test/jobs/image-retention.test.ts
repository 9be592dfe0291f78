/**
 * The retention rule for stored PNGs, on the real SQLite job store with an injected clock: image
 * jobs the node is done with (committed and not first; first and published, or its webhook given
 * up on; failed) lose their PNGs `image_retention_hours` after that, in the background; jobs not
 * yet committed or published keep them at any age; `GET /v1/jobs/<ticket>/images/<k>.png` of a
 * pruned image answers 410 Gone with one line, over a real socket. 0 keeps everything forever.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { createApi, serveApi } from "../../src/api/server.ts";
import { ImagePruner } from "../../src/jobs/image-retention.ts";
import { SqliteJobStore } from "../../src/jobs/sqlite-store.ts";
import type { NewJob } from "../../src/jobs/types.ts";
import { NodeMetrics } from "../../src/log/metrics.ts";
import type { Text2ImagePromptParams } from "../../src/protocol/types.ts";
import { fixtures, merged } from "../config/helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "atoma-image-retention-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { tomlFile } = fixtures();
const H = 3_600_000;

const params: Text2ImagePromptParams = {
  guidanceScale: 7.5, height: 16n, width: 16n, img2img: null, img2imgStrength: 0, model: "sd", nSteps: 3n, numSamples: 2n,
  outputDestination: new Uint8Array(), prompt: new TextEncoder().encode("a cat"), randomSeed: 1n, uncondPrompt: new Uint8Array(),
};
const ticket = (t: number) => "0x" + t.toString(16).padStart(64, "0");
const job = (t: number): NewJob => ({
  ticketId: ticket(t), leafIndex: 0, numLeaves: 1, model: "sd", job: { kind: "image", params },
  outputDestination: new Uint8Array(), origin: { checkpoint: 1n, txDigest: "tx", eventIndex: t, eventType: "0x1::gate::Text2ImagePromptEvent" },
});
const PNG0 = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 1), PNG1 = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 2);
const out = { text: null, tokens: null, inputTokens: 0, outputTokens: 2, rootHex: "aa", leafHex: "bb", generationMs: 5, images: [{ width: 16, height: 16, png: PNG0 }, { width: 16, height: 16, png: PNG1 }] };

type Fate = "generated" | "committed" | "first-unpublished" | "first-published" | "first-webhook-gave-up" | "failed";

/** A store (clock at `clock.now`) holding one generated image job per fate, moved there at t = 0. */
function storeWith(fates: Fate[], clock: { now: number }) {
  const s = new SqliteJobStore(join(dir, `s-${Math.random().toString(36).slice(2)}.sqlite`), { now: () => clock.now });
  s.applyBatch({ checkpoint: 1n, events: [{ origin: job(1).origin, jobs: fates.map((_, i) => job(i + 1)), prompts: [], settled: [] }] });
  const ids: Record<string, number> = {};
  fates.forEach((fate, i) => {
    const j = s.claimNext("sd")!;
    s.markGenerated(j.id, out);
    ids[fate] = j.id;
    if (fate === "generated") return;
    if (fate === "failed") return s.applyTxResult(j.id, { kind: "failed", reason: "gas budget exceeded 20 times" }, clock.now);
    s.recordTx({ digest: `D${i}`, bytes: "", signatures: [], ticketIds: [j.ticketId] }, [j.id], clock.now);
    s.applyTxResult(j.id, { kind: "committed", digest: `D${i}`, firstSubmission: fate !== "committed" }, clock.now);
    if (fate === "first-published") s.markPublished(j.id, clock.now);
    if (fate === "first-webhook-gave-up") s.markPublished(j.id, clock.now, "webhook failed after 4 attempts: HTTP 500");
  });
  return { s, ids };
}

const ALL: Fate[] = ["generated", "committed", "first-unpublished", "first-published", "first-webhook-gave-up", "failed"];

describe("stored PNGs: retention", () => {
  test("[node] image_retention_hours: default 24, 0 allowed (keep forever), negative refused", () => {
    const node = (keys: string) => loadConfig({ config: tomlFile(merged({ extra: `[node]\n${keys}` })) }, { env: {}, cwd: "/work" }).node;
    expect(node("").imageRetentionHours).toBe(24);
    expect(node("image_retention_hours = 0\n").imageRetentionHours).toBe(0);
    expect(() => node("image_retention_hours = -1\n")).toThrow(/node\.image_retention_hours: .*expected hours 0 … 87600 \(0 = keep forever\)/);
  });

  test("after 24 h the PNGs of jobs the node is done with go; not-yet-committed or unpublished ones stay at any age", async () => {
    const clock = { now: 1_000_000 };
    const { s, ids } = storeWith(ALL, clock);
    const pruner = new ImagePruner(s, { retentionMs: 24 * H, now: () => clock.now });
    clock.now += 23 * H;
    expect(await pruner.pruneOnce()).toBe(0);
    clock.now += 2 * H;
    expect(await pruner.pruneOnce()).toBe(4);
    const kept = (f: Fate) => s.images(ids[f]!).length;
    expect(Object.fromEntries(ALL.map((f) => [f, kept(f)]))).toEqual({ generated: 2, committed: 0, "first-unpublished": 2, "first-published": 0, "first-webhook-gave-up": 0, failed: 0 });
    // The job keeps its image sizes and says when the PNGs went.
    expect(s.get(ids.committed!)).toMatchObject({ images: [{ width: 16, height: 16 }, { width: 16, height: 16 }], imagesPrunedAtMs: clock.now });
    expect(s.get(ids.generated!)!.imagesPrunedAtMs).toBeNull();
    // A year later the waiting ones are still there; once published, they go 24 h after that.
    clock.now += 365 * 24 * H;
    expect(await pruner.pruneOnce()).toBe(0);
    s.markPublished(ids["first-unpublished"]!, clock.now);
    clock.now += 25 * H;
    expect(await pruner.pruneOnce()).toBe(1);
    expect(kept("first-unpublished")).toBe(0);
    expect(kept("generated")).toBe(2);
    s.close();
  });

  test("0 = keep forever", async () => {
    const clock = { now: 5 };
    const { s, ids } = storeWith(["committed", "failed"], clock);
    clock.now += 10 * 365 * 24 * H;
    expect(await new ImagePruner(s, { retentionMs: 0, now: () => clock.now }).pruneOnce()).toBe(0);
    expect(s.images(ids.committed!)).toHaveLength(2);
    s.close();
  });

  test("a backlog is pruned in small transactions, yielding to the event loop between them", async () => {
    const clock = { now: 0 };
    const { s } = storeWith(Array.from({ length: 70 }, () => "committed" as const), clock);
    clock.now += 48 * H;
    // Each batch is its own call; an immediate queued before the pass runs before its second batch.
    const seen: string[] = [];
    const counted = { pruneImages: (before: number, limit: number) => (seen.push("batch"), s.pruneImages(before, limit)) };
    setImmediate(() => seen.push("event loop"));
    const n = await new ImagePruner(counted, { retentionMs: 24 * H, now: () => clock.now, batch: 16 }).pruneOnce();
    const calls = seen.filter((x) => x === "batch").length;
    expect(seen.indexOf("event loop")).toBe(1);
    expect(n).toBe(70);
    expect(calls).toBe(5);
    expect(s.list({ limit: 100 }).every((j) => j.imagesPrunedAtMs !== null)).toBe(true);
    s.close();
  });

  test("GET /v1/jobs/<ticket>/images/<k>.png: 200 while stored, 410 Gone with one line once pruned, 404 for an image that never was", async () => {
    const clock = { now: 1_000 };
    const { s, ids } = storeWith(["committed", "generated"], clock);
    const app = createApi({ models: new Map(), store: s, metrics: new NodeMetrics(), timeoutMs: 10_000, nodeInfo: () => ({}) });
    const srv = serveApi(app, "127.0.0.1", 0);
    try {
      const get = (t: number, k: number) => fetch(`${srv.url}/v1/jobs/${ticket(t)}/images/${k}.png`);
      const before = await get(1, 1);
      expect(before.status).toBe(200);
      expect(new Uint8Array(await before.arrayBuffer())).toEqual(PNG1);
      clock.now += 25 * H;
      expect(await new ImagePruner(s, { retentionMs: 24 * H, now: () => clock.now }).pruneOnce()).toBe(1);
      const gone = await get(1, 1);
      expect(gone.status).toBe(410);
      expect(await gone.json()).toEqual({ error: `image 1 of ticket ${ticket(1)} was deleted at ${new Date(clock.now).toISOString()} by the image retention rule ([node] image_retention_hours)` });
      expect((await get(1, 2)).status).toBe(404);
      expect((await get(2, 0)).status).toBe(200); // not committed yet: kept
      const view = (await (await fetch(`${srv.url}/v1/jobs/${ticket(1)}`)).json()) as { jobs: { images_pruned_at: string | null; images: unknown[] }[] };
      expect(view.jobs[0]).toMatchObject({ images_pruned_at: new Date(clock.now).toISOString(), images: [{ width: 16, height: 16 }, { width: 16, height: 16 }] });
      expect(ids.generated).toBeDefined();
    } finally {
      await srv.stop();
      s.close();
    }
  });
});
