/**
 * `TextEngine.generate` on top of an engine's chunk generator, one rule for every engine kind:
 * each chunk goes to `onChunk`, the generator's return value is the result. A throwing `onChunk`
 * would leave the generator suspended, holding what it holds (a model lock and KV cache locally,
 * an upstream slot remotely), so the generator is finished before the error is rethrown.
 */
import type { GenerationChunk, GenerationResult } from "./types.ts";

export async function drainGeneration(
  it: AsyncGenerator<GenerationChunk, GenerationResult, void>,
  onChunk?: (chunk: GenerationChunk) => void,
): Promise<GenerationResult> {
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
      onChunk?.(r.value);
    }
  } catch (e) {
    await it.return(undefined as never).catch(() => {});
    throw e;
  }
}
