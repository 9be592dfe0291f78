/**
 * Which Hugging Face token a pull sends: `[inference] api_key`, else `HF_TOKEN`, else the hub's
 * token file (`HF_TOKEN_PATH`, else `$HF_HOME/token`, the file `huggingface-cli login` writes).
 * The token is registered as a secret so the logger masks it wherever it might appear.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { registerSecret } from "../log/logger.ts";
import { hfHome } from "./hub-cache.ts";

export interface ResolvedToken {
  token: string | undefined;
  /** Where it came from, for messages (never the value). */
  source: "api_key" | "HF_TOKEN" | "token file" | "none";
}

export function resolveToken(apiKey: string | undefined, env: Record<string, string | undefined> = process.env): ResolvedToken {
  const pick = (token: string | undefined, source: ResolvedToken["source"]): ResolvedToken | undefined => {
    const t = token?.trim();
    if (!t) return undefined;
    registerSecret(t);
    return { token: t, source };
  };
  const file = env.HF_TOKEN_PATH ?? join(hfHome(env), "token");
  const fromFile = () => {
    try {
      return existsSync(file) ? readFileSync(file, "utf8") : undefined;
    } catch {
      return undefined;
    }
  };
  return pick(apiKey, "api_key") ?? pick(env.HF_TOKEN, "HF_TOKEN") ?? pick(fromFile(), "token file") ?? { token: undefined, source: "none" };
}
