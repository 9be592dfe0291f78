/**
 * What `run` needs from the chain, checked without running (`atoma-node doctor`): the signer's key,
 * the full node, the package, the shared `AtomaDb`, the owned `NodeBadge` and gas. Each check is
 * one line that names what was checked (file, URL, object id) and, on failure, what to fix. Nothing
 * here signs or sends a transaction.
 */
import { ObjectError, type SuiClientTypes } from "@mysten/sui/client";
import type { SuiGrpcClient } from "@mysten/sui/grpc";
import { normalizeSuiAddress } from "@mysten/sui/utils";
import type { EventSubscriberConfig, SuiClientConfig } from "../config/types.ts";
import { oneLineError } from "../log/one-line.ts";
import { createSuiClient, displayUrl } from "./client.ts";
import { loadSigner, type Signer } from "./keys.ts";

export interface PreflightCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** A doctor must answer promptly even when the configured timeout is minutes. */
const MAX_CALL_MS = 15_000;

type Lookup = { object: SuiClientTypes.Object } | { missing: string } | { error: string };

export async function chainPreflight(es: EventSubscriberConfig, c: SuiClientConfig, env: Record<string, string | undefined> = process.env): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = [];
  const ms = Math.min(MAX_CALL_MS, es.requestTimeoutMs, c.requestTimeoutMs);

  let signer: Signer | undefined;
  try {
    signer = loadSigner({ configPath: c.configPath, address: c.address, env });
    checks.push({ name: "signer", ok: true, detail: `${signer.address} (${signer.scheme}, key from ${signer.source})` });
  } catch (e) {
    checks.push({ name: "signer", ok: false, detail: oneLineError(e, 300) });
  }

  const url = displayUrl(es.httpUrl);
  // Transport errors already start with the URL (src/chain/client.ts); each line names it once.
  const why = (e: unknown) => oneLineError(e, 200).replace(`${url}: `, "");
  let client: SuiGrpcClient;
  try {
    client = createSuiClient({ network: es.network, httpUrl: es.httpUrl, requestTimeoutMs: ms });
    const { chainIdentifier } = await client.core.getChainIdentifier({ signal: AbortSignal.timeout(ms) });
    checks.push({ name: "full node", ok: true, detail: `${url} reachable (chain ${chainIdentifier}, ${es.network})` });
  } catch (e) {
    checks.push({ name: "full node", ok: false, detail: `${url} unreachable: ${why(e)} (event_subscriber.http_url)` });
    const skipped = `not checked: the full node ${url} is unreachable`;
    for (const name of ["package", "AtomaDb", "NodeBadge", "gas"]) checks.push({ name, ok: false, detail: skipped });
    return checks;
  }

  const lookup = async (objectId: string): Promise<Lookup> => {
    try {
      return { object: (await client.core.getObject({ objectId, signal: AbortSignal.timeout(ms) })).object };
    } catch (e) {
      if (e instanceof ObjectError && (e.reason === "notFound" || e.reason === "deleted")) return { missing: e.reason === "deleted" ? "was deleted" : "does not exist" };
      return { error: `lookup on ${url} failed: ${why(e)}` };
    }
  };
  const where = `on ${url}`;

  const packages = [...new Map([[c.packageId, "client.package_id"], [es.packageId, "event_subscriber.package_id"], [es.eventPackageId, "event_subscriber.event_package_id"]]).entries()];
  const pkgProblems: string[] = [];
  for (const [id, key] of packages) {
    const r = await lookup(id);
    if ("missing" in r) pkgProblems.push(`${key} ${id} ${r.missing} ${where}`);
    else if ("error" in r) pkgProblems.push(`${key} ${id}: ${r.error}`);
    else if (r.object.type !== "package") pkgProblems.push(`${key} ${id} is a ${r.object.type}, not a package`);
  }
  checks.push(pkgProblems.length ? { name: "package", ok: false, detail: pkgProblems.join("; ") } : { name: "package", ok: true, detail: `${[...new Set(packages.map(([id]) => id))].join(", ")} found` });

  const db = await lookup(c.atomaDbId);
  if ("object" in db) {
    const o = db.object;
    if (!/::db::AtomaDb$/.test(o.type)) checks.push({ name: "AtomaDb", ok: false, detail: `client.atoma_db_id ${c.atomaDbId} is a ${o.type}, not a db::AtomaDb` });
    else if (o.owner.$kind !== "Shared") checks.push({ name: "AtomaDb", ok: false, detail: `client.atoma_db_id ${c.atomaDbId} is not a shared object (owner: ${o.owner.$kind})` });
    else if (!sameAddress(o.type.split("::")[0]!, c.packageId) && !sameAddress(o.type.split("::")[0]!, es.eventPackageId)) {
      checks.push({ name: "AtomaDb", ok: false, detail: `client.atoma_db_id ${c.atomaDbId} belongs to package ${o.type.split("::")[0]}, not client.package_id ${c.packageId}` });
    } else checks.push({ name: "AtomaDb", ok: true, detail: `${c.atomaDbId} (${o.type}, shared)` });
  } else checks.push({ name: "AtomaDb", ok: false, detail: "missing" in db ? `client.atoma_db_id ${c.atomaDbId} ${db.missing} ${where}` : `client.atoma_db_id ${c.atomaDbId}: ${db.error}` });

  const badge = await lookup(c.nodeBadgeId);
  if ("object" in badge) {
    const o = badge.object;
    const owner = o.owner.$kind === "AddressOwner" ? normalizeSuiAddress(o.owner.AddressOwner) : undefined;
    if (!/::db::NodeBadge$/.test(o.type)) checks.push({ name: "NodeBadge", ok: false, detail: `client.node_badge_id ${c.nodeBadgeId} is a ${o.type}, not a db::NodeBadge` });
    else if (!owner) checks.push({ name: "NodeBadge", ok: false, detail: `client.node_badge_id ${c.nodeBadgeId} is not owned by an address (owner: ${o.owner.$kind})` });
    else if (!signer) checks.push({ name: "NodeBadge", ok: false, detail: `${c.nodeBadgeId} is owned by ${owner}; the signer could not be loaded to compare` });
    else if (owner !== signer.address) checks.push({ name: "NodeBadge", ok: false, detail: `client.node_badge_id ${c.nodeBadgeId} is owned by ${owner}, not by the signer ${signer.address}` });
    else checks.push({ name: "NodeBadge", ok: true, detail: `${c.nodeBadgeId} owned by the signer` });
  } else checks.push({ name: "NodeBadge", ok: false, detail: "missing" in badge ? `client.node_badge_id ${c.nodeBadgeId} ${badge.missing} ${where}` : `client.node_badge_id ${c.nodeBadgeId}: ${badge.error}` });

  if (!signer) checks.push({ name: "gas", ok: false, detail: "not checked: no signer" });
  else {
    try {
      const { balance } = await client.core.getBalance({ owner: signer.address, signal: AbortSignal.timeout(ms) });
      const total = BigInt(balance.balance);
      checks.push(
        total >= c.gasBudget
          ? { name: "gas", ok: true, detail: `${total} MIST, at least one commitment's budget (client.gas_budget ${c.gasBudget})` }
          : { name: "gas", ok: false, detail: `the signer ${signer.address} holds ${total} MIST, below client.gas_budget ${c.gasBudget}: send it SUI` },
      );
    } catch (e) {
      checks.push({ name: "gas", ok: false, detail: `balance lookup on ${url} failed: ${why(e)}` });
    }
  }
  return checks;
}

function sameAddress(a: string, b: string): boolean {
  try {
    return normalizeSuiAddress(a) === normalizeSuiAddress(b);
  } catch {
    return false;
  }
}
