/**
 * The object references a commitment transaction needs, cached between transactions
 * (spec sui-integration.md §4): AtomaDb's and Random's initial shared versions (never change), the
 * NodeBadge and gas coin refs (change with every transaction — taken from effects, re-read from the
 * chain only after a stale-object rejection), and the reference gas price (per epoch).
 */
import { ObjectError, type ClientWithCoreApi, type SuiClientTypes } from "@mysten/sui/client";
import { normalizeSuiAddress } from "@mysten/sui/utils";
import { RANDOM_OBJECT_ID, type ObjectRef, type SharedRef } from "./build.ts";

export interface GasCoin extends ObjectRef {
  balance: bigint;
}

export class ObjectConfigError extends Error {
  override name = "ObjectConfigError";
}

/** Sui caps a transaction's gas payment at 256 coins. */
const MAX_GAS_COINS = 255;

export class CommitmentObjects {
  atomaDb: SharedRef | undefined;
  random: SharedRef | undefined;
  badge: ObjectRef | undefined;
  coins: GasCoin[] | undefined;
  gasPrice: bigint | undefined;
  #priceEpoch: string | null = null;

  constructor(
    private readonly client: ClientWithCoreApi,
    private readonly ids: { atomaDbId: string; nodeBadgeId: string; owner: string },
    private readonly signal: () => AbortSignal,
  ) {}

  async #object(objectId: string, what: string): Promise<SuiClientTypes.Object> {
    try {
      const { object } = await this.client.core.getObject({ objectId, signal: this.signal() });
      return object;
    } catch (e) {
      // A missing or deleted object is a configuration error (retrying cannot help); transport
      // errors propagate and are retried by the caller.
      if (e instanceof ObjectError && (e.reason === "notFound" || e.reason === "deleted")) {
        throw new ObjectConfigError(`${what} ${objectId} does not exist on this network (${e.reason})`);
      }
      throw e;
    }
  }

  async #shared(objectId: string, what: string): Promise<SharedRef> {
    const o = await this.#object(objectId, what);
    if (o.owner.$kind !== "Shared") throw new ObjectConfigError(`${what} ${objectId} is not a shared object (owner: ${o.owner.$kind})`);
    return { objectId: normalizeSuiAddress(objectId), initialSharedVersion: o.owner.Shared.initialSharedVersion };
  }

  async #loadBadge(): Promise<ObjectRef> {
    const o = await this.#object(this.ids.nodeBadgeId, "node badge (client.node_badge_id)");
    if (o.owner.$kind !== "AddressOwner" || normalizeSuiAddress(o.owner.AddressOwner) !== normalizeSuiAddress(this.ids.owner)) {
      throw new ObjectConfigError(`node badge ${this.ids.nodeBadgeId} is not owned by the signer ${this.ids.owner} (client.node_badge_id / keystore address mismatch)`);
    }
    if (!/::db::NodeBadge$/.test(o.type)) throw new ObjectConfigError(`object ${this.ids.nodeBadgeId} is a ${o.type}, not a db::NodeBadge`);
    return { objectId: o.objectId, version: o.version, digest: o.digest };
  }

  async #loadCoins(): Promise<GasCoin[]> {
    const coins: GasCoin[] = [];
    let cursor: string | null = null;
    do {
      const page: SuiClientTypes.ListCoinsResponse = await this.client.core.listCoins({ owner: this.ids.owner, cursor, signal: this.signal() });
      for (const c of page.objects) coins.push({ objectId: c.objectId, version: c.version, digest: c.digest, balance: BigInt(c.balance) });
      cursor = page.hasNextPage ? page.cursor : null;
    } while (cursor && coins.length < 10 * MAX_GAS_COINS);
    return coins;
  }

  /** Loads whatever is not cached. */
  async ensure(): Promise<void> {
    this.atomaDb ??= await this.#shared(this.ids.atomaDbId, "AtomaDb (client.atoma_db_id)");
    this.random ??= await this.#shared(RANDOM_OBJECT_ID, "Random");
    this.badge ??= await this.#loadBadge();
    this.coins ??= await this.#loadCoins();
    if (this.gasPrice === undefined) {
      const { referenceGasPrice } = await this.client.core.getReferenceGasPrice({ signal: this.signal() });
      this.gasPrice = BigInt(referenceGasPrice);
    }
  }

  /** After a stale-object rejection or a gas problem: re-read badge, coins and gas price. */
  invalidateOwned(): void {
    this.badge = undefined;
    this.coins = undefined;
    this.gasPrice = undefined;
  }

  /** Largest coins first until the budget is covered; the SDK merges them into the first. */
  selectGas(budget: bigint): ObjectRef[] {
    const sorted = [...(this.coins ?? [])].sort((a, b) => (b.balance > a.balance ? 1 : b.balance < a.balance ? -1 : 0));
    const picked: GasCoin[] = [];
    let total = 0n;
    for (const c of sorted) {
      if (total >= budget || picked.length >= MAX_GAS_COINS) break;
      picked.push(c);
      total += c.balance;
    }
    if (picked.length === 0 || total < budget) {
      throw new ObjectConfigError(`insufficient gas: the signer's SUI coins hold ${total} MIST in total, the budget is ${budget} MIST`);
    }
    return picked.map(({ objectId, version, digest }) => ({ objectId, version, digest }));
  }

  /** Applies a transaction's effects: new badge/gas versions, merged coins removed, gas spent. */
  applyEffects(effects: SuiClientTypes.TransactionEffects, epoch: string | null): void {
    if (epoch !== null && this.#priceEpoch !== null && epoch !== this.#priceEpoch) this.gasPrice = undefined;
    if (epoch !== null) this.#priceEpoch = epoch;
    const gasId = effects.gasObject?.objectId;
    const changed = new Map(effects.changedObjects.map((c) => [normalizeSuiAddress(c.objectId), c]));
    const newer = (ref: ObjectRef, c: SuiClientTypes.ChangedObject) =>
      c.outputVersion !== null && c.outputDigest !== null && BigInt(c.outputVersion) > BigInt(ref.version);

    const b = this.badge && changed.get(normalizeSuiAddress(this.badge.objectId));
    if (this.badge && b && newer(this.badge, b)) this.badge = { objectId: this.badge.objectId, version: b.outputVersion!, digest: b.outputDigest! };

    if (!this.coins) return;
    const used = effects.gasUsed;
    const spent = BigInt(used.computationCost) + BigInt(used.storageCost) - BigInt(used.storageRebate);
    let merged = 0n;
    const kept: GasCoin[] = [];
    for (const coin of this.coins) {
      const c = changed.get(normalizeSuiAddress(coin.objectId));
      if (c && (c.outputState === "DoesNotExist" || c.idOperation === "Deleted")) {
        merged += coin.balance; // smashed into the gas coin, then deleted (deletion is permanent)
      } else if (c && newer(coin, c)) {
        const isGas = gasId !== undefined && normalizeSuiAddress(gasId) === normalizeSuiAddress(coin.objectId);
        kept.push({ ...coin, version: c.outputVersion!, digest: c.outputDigest!, balance: isGas ? coin.balance - spent : coin.balance });
      } else {
        kept.push(coin);
      }
    }
    // Only effects newer than our cache move balances (an old transaction resumed late changes nothing).
    const gas = gasId === undefined ? undefined : kept.find((k) => normalizeSuiAddress(k.objectId) === normalizeSuiAddress(gasId));
    if (gas && merged > 0n) gas.balance += merged;
    this.coins = kept;
  }
}
