/** The families the converter knows, by config.json `model_type`. */
import type { Family } from "./common.ts";
import { llama } from "./llama.ts";
import { mistral } from "./mistral.ts";
import { phi3 } from "./phi3.ts";
import { qwen2 } from "./qwen2.ts";

export const FAMILIES: Record<string, Family> = Object.fromEntries([llama, mistral, qwen2, phi3].map((f) => [f.modelType, f]));
