import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { SuiGrpcClient } from "@mysten/sui/grpc";
import { encodeEventBcs } from "../../src/chain/events/decode.ts";
import { findPromptEvent } from "../../src/chain/prompt-lookup.ts";
import type { AtomaEvent } from "../../src/protocol/types.ts";
import { newTicketId } from "../support/sui-server/events.ts";
import { startSuiServer, type SuiServer } from "../support/sui-server/index.ts";

let server: SuiServer;
let client: SuiGrpcClient;
let pkg: string;

beforeAll(async () => {
  server = await startSuiServer({ seed: "prompt-lookup" });
  client = new SuiGrpcClient({ network: "localnet", baseUrl: server.url });
  pkg = server.ledger.packageId;
});
afterAll(() => server.stop());
afterEach(() => server.admin.setFaults({ clear: true }));

const filler = (n: number, tag: string) => {
  for (let i = 0; i < n; i++) server.admin.injectPrompt({ prompt: `${tag} ${i}`, nodes: [2] });
};

describe("findPromptEvent (spec §5.4: scan gate::*PromptEvent newest first)", () => {
  test("descending ListEvents on the test server: newest first, `before` pages back without overlap", async () => {
    const ids = server.admin.injectPrompts([{ prompt: "a", nodes: [1] }, { prompt: "b", nodes: [1] }, { prompt: "c", nodes: [1] }]).map((p) => p.ticketId);
    const eventType = `${pkg}::gate::Text2TextPromptEvent`;
    const first = await client.listEvents({ filter: { eventType }, order: "descending", limit: 2 });
    expect(first.events.map((e) => e.eventIndex)).toEqual([2, 1]);
    expect(first.hasNextPage).toBe(true);
    const next = await client.listEvents({ filter: { eventType }, before: first.endCursor, limit: 2 });
    expect(next.events[0]!.eventIndex).toBe(0);
    expect(next.events[0]!.transactionDigest).toBe(first.events[0]!.transactionDigest);
    const found = await findPromptEvent(client, pkg, ids[1]!, {});
    expect(found).toMatchObject({ found: true, prompt: { kind: "Text2TextPromptEvent", ticketId: ids[1] } });
  });

  test("an old prompt behind many newer ones and short scan-limited pages is found, params intact", async () => {
    const old = server.admin.injectPrompt({ prompt: "the old one", nodes: [4, 9], chunksCount: 5, maxTokens: 33, seed: "18446744073709551615" });
    filler(120, "newer");
    server.admin.setFaults({ scanLimit: 7 }); // pages of ≤ 7 events, some empty, hasNextPage true
    const res = await findPromptEvent(client, pkg, old.ticketId, { maxPages: 100 });
    if (!res.found) throw new Error("not found");
    expect(res.prompt.kind).toBe("Text2TextPromptEvent");
    expect(res.prompt.nodes).toEqual([4n, 9n]);
    expect(res.prompt.chunksCount).toBe(5n);
    expect(res.checkpoint).toBe(old.checkpoint.toString());
    if (res.prompt.kind === "Text2TextPromptEvent") {
      expect(new TextDecoder().decode(res.prompt.params.prompt)).toBe("the old one");
      expect(res.prompt.params.maxTokens).toBe(33n);
      expect(res.prompt.params.randomSeed).toBe(18446744073709551615n);
    }
  });

  test("image prompt events are searched too", async () => {
    const ticketId = newTicketId("img");
    const img: AtomaEvent = {
      kind: "Text2ImagePromptEvent", ticketId, chunksCount: 1n, nodes: [3n], outputDestination: new Uint8Array(),
      params: { guidanceScale: 7.5, height: 512n, img2img: null, img2imgStrength: 0, model: "sd", nSteps: 30n, numSamples: 1n, outputDestination: new Uint8Array(), prompt: new Uint8Array([1]), randomSeed: 1n, uncondPrompt: new Uint8Array(), width: 512n },
    };
    server.admin.injectEvents([{ type: "gate::Text2ImagePromptEvent", bcs: encodeEventBcs(img) }]);
    const res = await findPromptEvent(client, pkg, ticketId);
    expect(res).toMatchObject({ found: true, prompt: { kind: "Text2ImagePromptEvent", ticketId, nodes: [3n] } });
  });

  test("bounded: the page budget stops the scan; an unknown ticket reads the whole history", async () => {
    const old = server.admin.injectPrompt({ prompt: "far back", nodes: [1] });
    filler(60, "later");
    const limited = await findPromptEvent(client, pkg, old.ticketId, { maxPages: 1 });
    expect(limited).toEqual({ found: false, pages: 2, exhausted: false }); // one page per event type
    expect((await findPromptEvent(client, pkg, old.ticketId, { maxPages: 2 })).found).toBe(true);
    const missing = await findPromptEvent(client, pkg, newTicketId("nobody"), { maxPages: 50 });
    expect(missing).toMatchObject({ found: false, exhausted: true });
  });

  test("RPC errors and hung requests throw (the caller retries); a client-side timeout bounds each page", async () => {
    server.admin.setFaults({ error: { method: "ListEvents", status: "UNAVAILABLE", message: "overloaded" } });
    await expect(findPromptEvent(client, pkg, newTicketId("x"))).rejects.toThrow("overloaded");
    // Delayed 10 minutes: only the 200 ms client-side timeout can end the lookup before the hang guard.
    server.admin.setFaults({ delay: { method: "ListEvents", ms: 600_000 } });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const guard = new Promise<string>((r) => (timer = setTimeout(() => r("still waiting after 60 s"), 60_000)));
    const outcome = await Promise.race([findPromptEvent(client, pkg, newTicketId("y"), { requestTimeoutMs: 200 }).then(() => "resolved", (e: Error) => `threw: ${e.message}`), guard]);
    clearTimeout(timer);
    expect(outcome).toMatch(/^threw: .*timed out/);
  });
});
