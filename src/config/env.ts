/**
 * Environment overrides: `ATOMA_<SECTION>__<KEY>[__<SUBKEY>…]=<value>` sets `<key>` in
 * `[<section>]` (or in the matching seed file), e.g. `ATOMA_INFERENCE__JRPC_PORT=4000`,
 * `ATOMA_CLIENT__REQUEST_TIMEOUT__SECS=60`. Names are case-insensitive; keys are lower-cased.
 * Values are read as TOML values (`4000` integer, `true` boolean, `[[0,"f32","llama_v2",false]]`
 * array, `{ secs = 5, nanos = 0 }` inline table, `"x"` string); anything that is not a TOML value,
 * and `0x…` hex (object ids, which TOML would read as integers), is taken as a plain string.
 */
import { parse } from "smol-toml";
import { log } from "../log/logger.ts";
import { isTable, type RawTable } from "./fields.ts";

export const SECTIONS = ["inference", "event_subscriber", "client", "node"] as const;
export type SectionName = (typeof SECTIONS)[number];

export interface EnvOverride {
  /** The variable's name as set. */
  name: string;
  section: SectionName;
  /** Lower-cased key path inside the section. */
  path: string[];
  value: unknown;
}

const PREFIX = /^ATOMA_([A-Za-z0-9_]+?)__(.+)$/i;

export function parseEnvValue(text: string): unknown {
  if (/^0x[0-9a-fA-F_]*$/.test(text.trim())) return text.trim();
  try {
    const v = parse(`v = ${text}`, { integersAsBigInt: true }).v;
    // A bare date (`2024-01-01`) is valid TOML but no key takes one; keep the text.
    if (typeof v === "object" && v !== null && !Array.isArray(v) && !isTable(v)) return text;
    return v;
  } catch {
    return text;
  }
}

export function envOverrides(env: Record<string, string | undefined>): EnvOverride[] {
  const out: EnvOverride[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const m = PREFIX.exec(name);
    if (!m) continue;
    const section = m[1]!.toLowerCase();
    const path = m[2]!.toLowerCase().split("__");
    if (!(SECTIONS as readonly string[]).includes(section)) {
      log.warn(`environment: ${name}: unknown section "${section}" ignored (sections: ${SECTIONS.join(", ")})`);
      continue;
    }
    if (path.some((p) => p === "")) {
      log.warn(`environment: ${name}: empty key segment, ignored`);
      continue;
    }
    out.push({ name, section: section as SectionName, path, value: parseEnvValue(value) });
  }
  // Deterministic order: a table-valued override first, then deeper keys refine it.
  return out.sort((a, b) => a.path.length - b.path.length || a.name.localeCompare(b.name));
}

/**
 * Writes the overrides into the section tables (creating a section that a variable names) and
 * returns, per section, dotted key → variable name, so errors can blame the variable.
 */
export function applyOverrides(
  tables: Partial<Record<SectionName, RawTable>>,
  overrides: EnvOverride[],
): Map<SectionName, Map<string, string>> {
  const provenance = new Map<SectionName, Map<string, string>>();
  for (const o of overrides) {
    let table = (tables[o.section] ??= {});
    for (const seg of o.path.slice(0, -1)) {
      const next = table[seg];
      table = isTable(next) ? next : (table[seg] = {});
    }
    table[o.path[o.path.length - 1]!] = o.value;
    let names = provenance.get(o.section);
    if (!names) provenance.set(o.section, (names = new Map()));
    names.set(o.path.join("."), o.name);
    log.debug(`environment: ${o.name} overrides ${o.section}.${o.path.join(".")}`);
  }
  return provenance;
}
