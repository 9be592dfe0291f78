/**
 * The configuration flags shared by every command that reads the node configuration
 * (`run`, `doctor`, and the operator commands): the seed's three flags exactly, plus the merged file.
 */
import type { ArgsDef } from "citty";
import type { ConfigSources } from "./load.ts";

export const configArgs = {
  config: {
    type: "string",
    alias: ["config-path", "c"],
    description: "Single TOML file with [inference], [event_subscriber], [client] (and optional [node]) sections",
  },
  "model-config-path": { type: "string", description: "Seed-era model inference file (top-level keys)" },
  "sui-subscriber-path": { type: "string", description: "Seed-era event subscriber file" },
  "atoma-sui-client-config-path": { type: "string", description: "Seed-era Sui client file" },
} satisfies ArgsDef;

type Flag = string | boolean | string[] | undefined;

export function sourcesFromArgs(args: Record<string, Flag>): ConfigSources {
  const str = (k: string): string | undefined => {
    const v = args[k];
    return typeof v === "string" ? v : Array.isArray(v) ? v[v.length - 1] : undefined;
  };
  return {
    config: str("config"),
    modelConfigPath: str("model-config-path"),
    suiSubscriberPath: str("sui-subscriber-path"),
    atomaSuiClientConfigPath: str("atoma-sui-client-config-path"),
  };
}

export function hasConfigArgs(sources: ConfigSources): boolean {
  return Object.values(sources).some((v) => v !== undefined);
}
