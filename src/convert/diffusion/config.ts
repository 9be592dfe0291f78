/**
 * Reading a diffusers component config.json (unet/, vae/) with the defaults of the diffusers class
 * constructor, so a config that omits a key converts to what diffusers would build. Every value is
 * checked; a wrong or unsupported one is a ConvertError naming the file and key.
 */
import { ConvertError } from "../tensors.ts";

export type Json = Record<string, unknown>;

export class ConfigReader {
  constructor(readonly c: Json, readonly where: string) {}

  fail(key: string, expected: string): never {
    throw new ConvertError(`${this.where}: "${key}" is ${JSON.stringify(this.c[key])}, expected ${expected}`);
  }

  int(key: string, dflt: number, min = 1): number {
    const v = this.c[key] ?? dflt;
    if (!Number.isInteger(v) || (v as number) < min) this.fail(key, `an integer ≥ ${min}`);
    return v as number;
  }

  num(key: string, dflt: number): number {
    const v = this.c[key] ?? dflt;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(key, "a number");
    return v;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.c[key] ?? dflt;
    if (typeof v !== "boolean") this.fail(key, "true or false");
    return v;
  }

  str(key: string, dflt: string | null): string | null {
    const v = this.c[key] ?? dflt;
    if (v !== null && typeof v !== "string") this.fail(key, "a string or null");
    return v;
  }

  strings(key: string, dflt: string[]): string[] {
    const v = this.c[key] ?? dflt;
    if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === "string")) this.fail(key, "a non-empty list of strings");
    return v as string[];
  }

  ints(key: string, dflt: number[]): number[] {
    const v = this.c[key] ?? dflt;
    if (!Array.isArray(v) || v.length === 0 || !v.every((n) => Number.isInteger(n) && n >= 1)) this.fail(key, "a non-empty list of positive integers");
    return v as number[];
  }

  /** An int for every block, or a list with one per block (attention_head_dim, layers_per_block, …). */
  perBlock(key: string, dflt: number | number[] | null, blocks: number): number[] | undefined {
    const v = this.c[key] ?? dflt;
    if (v === null || v === undefined) return undefined;
    if (Number.isInteger(v) && (v as number) >= 1) return new Array<number>(blocks).fill(v as number);
    if (Array.isArray(v) && v.length === blocks && v.every((n) => Number.isInteger(n) && n >= 1)) return v as number[];
    return this.fail(key, `a positive integer or a list of ${blocks}`);
  }

  /** Options the writers do not implement: only the default (or one of `allowed`) is accepted. */
  only(key: string, allowed: unknown[], what: string): void {
    const v = this.c[key] ?? null;
    if (!allowed.some((a) => a === v)) {
      throw new ConvertError(`${this.where}: "${key}" ${JSON.stringify(v)} is not supported by the converter (${what})`);
    }
  }
}
