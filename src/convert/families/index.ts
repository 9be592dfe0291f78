/** The families the converter knows, by config.json `model_type`. */
import type { Family } from "./common.ts";
import { llama } from "./llama.ts";

export const FAMILIES: Record<string, Family> = Object.fromEntries([llama].map((f) => [f.modelType, f]));
