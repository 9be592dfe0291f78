/**
 * One component folder of the diffusers ONNX layout (text_encoder/, text_encoder_2/, unet/, …):
 * `model.onnx`, external data `model.onnx_data`, `model.onnx_data_1`, … when the weights are
 * large (SDXL's text_encoder_2 is 2.8 GB in fp32, past protobuf's 2 GB), and `config.json` copied
 * from the source component. As for text models (write-folder.ts), the graph is first built dry so
 * a bad checkpoint fails before anything is written, and the folder is assembled under a hidden
 * sibling and renamed into place, so no reader sees half a model.
 */
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { GraphBuilder } from "../../engine/models/onnx-graph.ts";
import { ChunkedExternalData, DEFAULT_MAX_CHUNK_BYTES } from "../external-data.ts";
import { GraphOps, type Variant } from "../ops.ts";
import { ConvertError, Weights, type TensorSource } from "../tensors.ts";
import { DEFAULT_EXTERNAL_ABOVE_BYTES, publishFolder, removeStale, tmpPrefix } from "../write-folder.ts";

export interface ComponentProgress {
  tensorsDone: number;
  tensorsTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface ComponentContents {
  /** Graph name recorded in the model (e.g. the architecture). */
  name: string;
  source: TensorSource;
  variant: Variant;
  write: (ops: GraphOps) => void;
  /** config.json of the component, written verbatim. */
  config: Record<string, unknown>;
  replace?: boolean;
  onProgress?: (p: ComponentProgress) => void;
  externalAboveBytes?: number;
  maxChunkBytes?: number;
}

export interface ComponentResult {
  dir: string;
  variant: Variant;
  /** External data chunk files beside model.onnx (0: weights inline). */
  externalChunks: number;
  bytesRead: number;
}

export async function writeComponentFolder(out: string, c: ComponentContents): Promise<ComponentResult> {
  const probe = new Weights(c.source);
  c.write(new GraphOps(new GraphBuilder(), probe, c.variant, true));
  if (existsSync(out) && !c.replace) throw new ConvertError(`output ${out} already exists (use --force to replace it)`);
  const external = probe.checkedBytes > (c.externalAboveBytes ?? DEFAULT_EXTERNAL_ABOVE_BYTES);

  await mkdir(dirname(out), { recursive: true });
  await removeStale(out);
  const tmp = join(dirname(out), `${tmpPrefix(out)}${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  let tensorsDone = 0, bytesDone = 0, chunks = 0, lastBytes = 0;
  try {
    const sink = external ? new ChunkedExternalData(tmp, "model.onnx", c.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES) : undefined;
    try {
      const weights = new Weights(c.source, (_, bytes) => {
        tensorsDone++;
        bytesDone += bytes;
        // As in write-folder.ts: tensor arrays live outside the heap's accounting, so collect
        // before the next one rather than let several pile up.
        if (lastBytes >= 1 << 20) Bun.gc(true);
        lastBytes = bytes;
        c.onProgress?.({ tensorsDone, tensorsTotal: probe.checks, bytesDone, bytesTotal: probe.checkedBytes });
      });
      const g = new GraphBuilder(sink);
      c.write(new GraphOps(g, weights, c.variant));
      await writeFile(join(tmp, "model.onnx"), g.encode(c.name, "atoma-node").model);
    } finally {
      sink?.close();
    }
    chunks = sink?.chunks ?? 0;
    await writeFile(join(tmp, "config.json"), JSON.stringify(c.config, null, 2) + "\n");
    await publishFolder(tmp, out, c.replace);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { dir: out, variant: c.variant, externalChunks: chunks, bytesRead: bytesDone };
}
