import { describe, expect, test } from "bun:test";
import { fromHex, toHex } from "@mysten/bcs";
import {
  decodeChainEvent, decodeEventBcs, decodeEventJson, encodeEventBcs, eventNameOf, eventTypeOf,
} from "../../src/chain/events/decode.ts";
import type { EventName } from "../../src/chain/events/schemas.ts";
import { describeSelection, leafCount, resampledOrders, selectPrompt } from "../../src/chain/events/selection.ts";
import type { AtomaEvent } from "../../src/protocol/types.ts";
import * as F from "./events.fixtures.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const FIREBASE = Uint8Array.from([0xa8, 0x46, 0x69, 0x72, 0x65, 0x62, 0x61, 0x73, 0x65]);

const text2text: AtomaEvent = {
  kind: "Text2TextPromptEvent",
  ticketId: F.ID11,
  params: {
    maxTokens: 16n, model: "llama_tiny_llama_1_1b_chat", prePromptTokens: [], prependOutputWithInput: false,
    prompt: enc("hi"), randomSeed: 42n, repeatLastN: 64n, repeatPenalty: Math.fround(1.1), shouldStreamOutput: false,
    temperature: Math.fround(0.7), topK: 40n, topP: Math.fround(0.9),
  },
  chunksCount: 3n,
  nodes: [7n, 2n, 9n],
  outputDestination: FIREBASE,
};

const text2image: AtomaEvent = {
  kind: "Text2ImagePromptEvent",
  ticketId: F.ID11,
  params: {
    guidanceScale: 7.5, height: 512n, img2img: enc("img"), img2imgStrength: 0.5, model: "sd", nSteps: 30n,
    numSamples: 1n, outputDestination: new Uint8Array(), prompt: enc("cat"), randomSeed: (1n << 64n) - 1n,
    uncondPrompt: new Uint8Array(), width: 512n,
  },
  chunksCount: 1n,
  nodes: [7n],
  outputDestination: FIREBASE,
};

/** name, hand-built hex, expected typed value, JSON-RPC rendering of the same event. */
const cases: [EventName, string, AtomaEvent, unknown][] = [
  ["Text2TextPromptEvent", F.TEXT2TEXT_152, text2text, {
    ticket_id: F.ID11, chunks_count: "3", nodes: [{ inner: "7" }, { inner: "2" }, { inner: "9" }],
    output_destination: [...FIREBASE],
    params: { max_tokens: "16", model: "llama_tiny_llama_1_1b_chat", pre_prompt_tokens: [], prepend_output_with_input: false,
      prompt: "hi", random_seed: "42", repeat_last_n: "64", repeat_penalty: 1066192077, should_stream_output: false,
      temperature: 1060320051, top_k: "40", top_p: 1063675494 },
  }],
  ["Text2ImagePromptEvent", F.TEXT2IMAGE, text2image, {
    ticket_id: F.ID11, chunks_count: "1", nodes: [{ inner: "7" }], output_destination: [...FIREBASE],
    params: { guidance_scale: 1089470464, height: "512", img2img: [105, 109, 103], img2img_strength: 1056964608, model: "sd",
      n_steps: "30", num_samples: "1", output_destination: [], prompt: "cat", random_seed: "18446744073709551615",
      uncond_prompt: "", width: "512" },
  }],
  ["FirstSubmissionEvent", F.FIRST_SUBMISSION, { kind: "FirstSubmissionEvent", ticketId: F.ID11, nodeId: 7n },
    { ticket_id: F.ID11, node_id: { inner: "7" } }],
  ["DisputeEvent", F.DISPUTE_NONE, { kind: "DisputeEvent", ticketId: F.ID33, timeout: null }, { ticket_id: F.ID33, timeout: null }],
  ["DisputeEvent", F.DISPUTE_SOME, {
    kind: "DisputeEvent", ticketId: F.ID33,
    timeout: { timedOutCount: 3n, timeoutMs: 60000n, startedInEpoch: 12n, startedAtEpochTimestampMs: 1700000000000n },
  }, { ticket_id: F.ID33, timeout: { timed_out_count: "3", timeout_ms: "60000", started_in_epoch: "12", started_at_epoch_timestamp_ms: "1700000000000" } }],
  ["NewlySampledNodesEvent", F.NEWLY_SAMPLED, { kind: "NewlySampledNodesEvent", ticketId: F.ID22, newNodes: [{ nodeId: 5n, order: 1n }] },
    { ticket_id: F.ID22, new_nodes: [{ node_id: { inner: "5" }, order: "1" }] }],
  ["NewlySampledNodesEvent", F.NEWLY_SAMPLED_2, {
    kind: "NewlySampledNodesEvent", ticketId: F.ID22, newNodes: [{ nodeId: 7n, order: 2n }, { nodeId: 9n, order: 5n }],
  }, { ticket_id: F.ID22, new_nodes: [{ node_id: { inner: "7" }, order: "2" }, { node_id: { inner: "9" }, order: "5" }] }],
  ["SettledEvent", F.SETTLED_NONE, { kind: "SettledEvent", ticketId: F.ID44, oracleNodeId: null }, { ticket_id: F.ID44, oracle_node_id: null }],
  ["SettledEvent", F.SETTLED_SOME, { kind: "SettledEvent", ticketId: F.ID44, oracleNodeId: 12n }, { ticket_id: F.ID44, oracle_node_id: { inner: "12" } }],
  ["RetrySettlementEvent", F.RETRY_SETTLEMENT, { kind: "RetrySettlementEvent", ticketId: F.ID44, howManyNodesInEchelon: 4n },
    { ticket_id: F.ID44, how_many_nodes_in_echelon: "4" }],
  ["NodeRegisteredEvent", F.NODE_REGISTERED, { kind: "NodeRegisteredEvent", badgeId: F.ID55, nodeSmallId: 7n },
    { badge_id: F.ID55, node_small_id: { inner: "7" } }],
  ["NodeSubscribedToModelEvent", F.NODE_SUBSCRIBED, { kind: "NodeSubscribedToModelEvent", nodeSmallId: 7n, modelName: "llama_tiny", echelonId: 2n },
    { node_small_id: { inner: "7" }, model_name: "llama_tiny", echelon_id: { id: "2" } }],
  ["PublishedEvent", F.PUBLISHED, { kind: "PublishedEvent", db: F.ID11, managerBadge: F.ID22 }, { db: F.ID11, manager_badge: F.ID22 }],
];

describe("event decoding, byte-exact fixtures", () => {
  test("spec §4.4 vector is 152 bytes", () => expect(F.TEXT2TEXT_152.length / 2).toBe(152));

  for (const [name, hex, expected, json] of cases) {
    test(`${name}: BCS decode ${hex.length / 2} bytes`, () => {
      const r = decodeEventBcs(name, fromHex(hex));
      expect(r).toEqual({ ok: true, event: expected });
    });
    test(`${name}: encode is byte-exact`, () => expect(toHex(encodeEventBcs(expected))).toBe(hex));
    test(`${name}: JSON form decodes to the same value`, () => {
      expect(decodeEventJson(name, json)).toEqual({ ok: true, event: expected });
      expect(decodeEventJson(name, JSON.stringify(json))).toEqual({ ok: true, event: expected });
    });
  }

  test("spec §4.5 JSON example (tell_me_a_joke)", () => {
    const json = `{"ticket_id":"0xabc","chunks_count":"1","nodes":[{"inner":"7"}],
      "output_destination":[168,70,105,114,101,98,97,115,101],
      "params":{"max_tokens":"64","model":"llama_tiny","pre_prompt_tokens":[],"prepend_output_with_input":false,
      "prompt":"Tell me a joke please","random_seed":"13804219358126347581","repeat_last_n":"1",
      "repeat_penalty":1066192077,"should_stream_output":false,"temperature":1048576000,"top_k":"1","top_p":1063675494}}`;
    const r = decodeEventJson("Text2TextPromptEvent", json);
    if (!r.ok || r.event.kind !== "Text2TextPromptEvent") throw new Error("decode failed");
    expect(r.event.ticketId).toBe(`0x${"0".repeat(61)}abc`);
    expect(r.event.params.randomSeed).toBe(13804219358126347581n);
    expect(r.event.params.temperature).toBe(0.25);
    expect(r.event.params.repeatPenalty).toBe(1.100000023841858);
    expect(r.event.params.topP).toBe(0.8999999761581421);
    expect(new TextDecoder().decode(r.event.params.prompt)).toBe("Tell me a joke please");
    expect(r.event.nodes).toEqual([7n]);
  });

  test("prompt as a number array (vector<u8> contracts) equals the string form", () => {
    const json = cases[0]![3] as any;
    const r = decodeEventJson("Text2TextPromptEvent", { ...json, params: { ...json.params, prompt: [104, 105] } });
    expect(r).toEqual({ ok: true, event: text2text });
  });
});

describe("malformed payloads never throw", () => {
  const bad = (name: EventName, hex: string) => decodeEventBcs(name, fromHex(hex));
  test("truncated", () => {
    const r = bad("Text2TextPromptEvent", F.TEXT2TEXT_152.slice(0, 200));
    expect(r).toMatchObject({ ok: false, reason: "malformed" });
    expect(bad("FirstSubmissionEvent", F.FIRST_SUBMISSION.slice(0, -2)).ok).toBe(false);
    expect(bad("DisputeEvent", "").ok).toBe(false);
  });
  test("truncated subarray does not read the neighbouring bytes", () => {
    const whole = fromHex(F.FIRST_SUBMISSION + "00");
    expect(decodeEventBcs("FirstSubmissionEvent", whole.subarray(0, 39)).ok).toBe(false);
  });
  test("trailing bytes", () => {
    const r = bad("FirstSubmissionEvent", F.FIRST_SUBMISSION + "00");
    expect(r).toMatchObject({ ok: false, reason: "malformed", message: expect.stringContaining("1 trailing byte") });
  });
  test("non-ASCII byte in ascii::String model name", () => {
    expect(bad("NodeSubscribedToModelEvent", F.NODE_SUBSCRIBED.replace("6c6c616d61", "ff6c616d61")).ok).toBe(false);
    // 0xc3a9 is valid UTF-8 (é) but still not ASCII.
    expect(bad("NodeSubscribedToModelEvent", F.NODE_SUBSCRIBED.replace("6c6c616d61", "c3a9616d61")).ok).toBe(false);
  });
  test("invalid option tag / bool byte / non-canonical ULEB", () => {
    expect(bad("DisputeEvent", F.DISPUTE_NONE.slice(0, -2) + "02").ok).toBe(false);
    // prepend_output_with_input sits at byte 68 (32 id + 8 max_tokens + 27 model + 1 empty vector).
    const hex = F.TEXT2TEXT_152;
    expect(hex.slice(136, 138)).toBe("00");
    expect(bad("Text2TextPromptEvent", hex.slice(0, 136) + "02" + hex.slice(138)).ok).toBe(false);
    expect(bad("DisputeEvent", F.DISPUTE_NONE.slice(0, -2) + "8000").ok).toBe(false);
  });
  test("wrong event type for the bytes", () => {
    expect(bad("PublishedEvent", F.FIRST_SUBMISSION).ok).toBe(false);
    expect(bad("Text2TextPromptEvent", F.NEWLY_SAMPLED).ok).toBe(false);
  });
  test("JSON: wrong types name the field", () => {
    const r = decodeEventJson("FirstSubmissionEvent", { ticket_id: F.ID11, node_id: { inner: 7.5 } });
    expect(r).toMatchObject({ ok: false, reason: "malformed", message: expect.stringContaining("node_id.inner: expected a u64") });
    const r2 = decodeEventJson("SettledEvent", { ticket_id: "0xzz", oracle_node_id: null });
    expect(r2).toMatchObject({ ok: false, reason: "malformed", message: expect.stringContaining("ticket_id: expected an object ID") });
    expect(decodeEventJson("PublishedEvent", "{not json").ok).toBe(false);
    expect(decodeEventJson("PublishedEvent", null).ok).toBe(false);
    expect(decodeEventJson("RetrySettlementEvent", { ticket_id: F.ID11, how_many_nodes_in_echelon: "18446744073709551616" }).ok).toBe(false);
  });
});

describe("dispatch on the normalised event type", () => {
  const PKG = "0xa1";
  test("short and padded package ids both match", () => {
    expect(eventTypeOf(PKG, "FirstSubmissionEvent")).toBe(`0x${"0".repeat(62)}a1::settlement::FirstSubmissionEvent`);
    expect(eventNameOf("0xa1::gate::Text2TextPromptEvent", `0x${"0".repeat(62)}a1`)).toBe("Text2TextPromptEvent");
    expect(eventNameOf("0xa1::settlement::Text2TextPromptEvent", PKG)).toBeNull(); // wrong module
    expect(eventNameOf("0xa2::gate::Text2TextPromptEvent", PKG)).toBeNull(); // other package
  });
  test("decodeChainEvent: known, unknown, malformed, JSON fallback", () => {
    const known = decodeChainEvent({ eventType: "0xa1::settlement::FirstSubmissionEvent", bcs: fromHex(F.FIRST_SUBMISSION) }, PKG);
    expect(known).toEqual({ ok: true, event: cases[2]![2] });
    expect(decodeChainEvent({ eventType: "0xa1::db::SomeNewEvent", bcs: new Uint8Array([1]) }, PKG))
      .toMatchObject({ ok: false, reason: "unknown" });
    expect(decodeChainEvent({ eventType: "not a type", bcs: new Uint8Array([1]) }, PKG)).toMatchObject({ ok: false, reason: "unknown" });
    const broken = decodeChainEvent({ eventType: "0xa1::settlement::FirstSubmissionEvent", bcs: fromHex("11"), id: "Dig:3" }, PKG);
    expect(broken).toMatchObject({ ok: false, reason: "malformed", message: expect.stringContaining("Dig:3") });
    const viaJson = decodeChainEvent({ eventType: "0xa1::db::PublishedEvent", bcs: null, json: cases.at(-1)![3] }, PKG);
    expect(viaJson).toEqual({ ok: true, event: cases.at(-1)![2] });
  });
});

describe("selection (spec §5)", () => {
  const prompt = (nodes: bigint[], chunksCount: bigint) => ({ ...(text2text as any), nodes, chunksCount });
  test("index is the first position; leaves per policy", () => {
    expect(selectPrompt(prompt([7n, 2n, 9n], 3n), 2n, "chunks_count")).toEqual({ selected: true, index: 1, leaves: 3n });
    expect(selectPrompt(prompt([7n, 2n, 7n], 3n), 7n, "chunks_count")).toEqual({ selected: true, index: 0, leaves: 3n });
    expect(selectPrompt(prompt([7n, 2n, 9n], 3n), 5n, "chunks_count")).toEqual({ selected: false });
  });
  test("cross-validation ticket: chunks_count 11 vs 1 node", () => {
    expect(selectPrompt(prompt([7n], 11n), 7n, "chunks_count")).toEqual({ selected: true, index: 0, leaves: 11n });
    expect(selectPrompt(prompt([7n], 11n), 7n, "nodes")).toEqual({ selected: true, index: 0, leaves: 1n });
    expect(leafCount(1n, 3, "chunks_count")).toBe(3n);
  });
  test("NewlySampledNodesEvent: the order, not the position", () => {
    const ev = cases[6]![2] as Extract<AtomaEvent, { kind: "NewlySampledNodesEvent" }>;
    expect(resampledOrders(ev, 9n)).toEqual([5n]);
    expect(resampledOrders(ev, 1n)).toEqual([]);
    expect(describeSelection(ev, 9n, "chunks_count")).toMatchObject({ selected: true, orders: [5n], index: 5n });
  });
});
