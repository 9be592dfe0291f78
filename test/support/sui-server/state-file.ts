/**
 * Saves and restores the fake ledger (objects, checkpoints with their transactions and events,
 * tickets, commitments) as JSON, so the CLI server can be stopped and started again with
 * `--state <file>` without the node's cursor pointing into a chain that no longer exists.
 * Tagged values keep bigints, bytes and maps exact.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { fromBase64, toBase64 } from "@mysten/sui/utils";
import type { Ledger } from "./ledger.ts";

const FORMAT = 1;

function replacer(this: Record<string, unknown>, key: string, _value: unknown): unknown {
  const v = this[key]; // the raw value, before any toJSON
  if (typeof v === "bigint") return { $bigint: v.toString() };
  if (v instanceof Uint8Array) return { $bytes: toBase64(v) };
  if (v instanceof Map) return { $map: [...v.entries()] };
  return _value;
}

function reviver(_key: string, v: unknown): unknown {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (typeof o.$bigint === "string") return BigInt(o.$bigint);
    if (typeof o.$bytes === "string") return fromBase64(o.$bytes);
    if (Array.isArray(o.$map)) return new Map(o.$map as [unknown, unknown][]);
  }
  return v;
}

export function saveLedger(ledger: Ledger, path: string): void {
  const state = {
    format: FORMAT,
    seed: ledger.seed,
    packageId: ledger.packageId,
    referenceGasPrice: ledger.referenceGasPrice,
    epoch: ledger.epoch,
    syntheticCount: ledger.syntheticCount,
    objects: [...ledger.objects.values()],
    checkpoints: ledger.checkpoints,
    tickets: [...ledger.tickets.values()],
    commitments: ledger.commitments,
    badges: ledger.badges,
  };
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, replacer));
  renameSync(tmp, path); // atomic: a crash mid-write never leaves a torn state file
}

/** Replaces the ledger's state with the file's; false when the file does not exist yet. */
export function loadLedger(ledger: Ledger, path: string): boolean {
  if (!existsSync(path)) return false;
  let s;
  try {
    s = JSON.parse(readFileSync(path, "utf8"), reviver);
  } catch (e) {
    throw new Error(`${path}: not a state file of this server (${(e as Error).message})`);
  }
  if (s?.format !== FORMAT) throw new Error(`${path}: unsupported state format ${s?.format}; expected ${FORMAT}`);
  if (s.packageId !== ledger.packageId) throw new Error(`${path}: state of package ${s.packageId}, but this server was started with seed "${ledger.seed}" (package ${ledger.packageId})`);
  ledger.referenceGasPrice = s.referenceGasPrice;
  ledger.epoch = s.epoch ?? ledger.epoch;
  ledger.syntheticCount = s.syntheticCount;
  ledger.objects.clear();
  for (const o of s.objects) ledger.objects.set(o.objectId, o);
  ledger.checkpoints.length = 0;
  ledger.checkpoints.push(...s.checkpoints);
  ledger.txs.clear();
  for (const cp of ledger.checkpoints) for (const tx of cp.txs) ledger.txs.set(tx.digest, tx);
  ledger.tickets.clear();
  for (const t of s.tickets) ledger.tickets.set(t.ticketId, t);
  ledger.commitments.length = 0;
  ledger.commitments.push(...s.commitments);
  ledger.badges.clear();
  for (const [k, v] of s.badges as Map<bigint, string>) ledger.badges.set(k, v);
  return true;
}
