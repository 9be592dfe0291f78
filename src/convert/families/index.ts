/** The families the converter knows, by config.json `model_type`. */
import type { Family } from "./common.ts";
import { falcon } from "./falcon.ts";
import { llama } from "./llama.ts";
import { mamba } from "./mamba.ts";
import { mistral } from "./mistral.ts";
import { mixtral } from "./mixtral.ts";
import { phi3 } from "./phi3.ts";
import { qwen2 } from "./qwen2.ts";
import { qwen2Moe } from "./qwen2-moe.ts";

export const FAMILIES: Record<string, Family> = Object.fromEntries([llama, mistral, qwen2, phi3, mixtral, qwen2Moe, falcon, mamba].map((f) => [f.modelType, f]));
