/** Engine-tagged child of the process logger (stderr only; stdout is for generated text). */
import { log } from "../log/logger.ts";

export const engineLog = log.withTag("engine");
