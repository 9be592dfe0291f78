/**
 * The diffusers ONNX export's four sessions (text_encoder/, unet/, vae_decoder/, vae_encoder/
 * each holding model.onnx) with the export's tensor names: text_encoder input_ids →
 * last_hidden_state; unet sample, timestep, encoder_hidden_states → out_sample; vae_decoder
 * latent_sample → sample; vae_encoder sample → latent_sample (diffusers' script, a sampled
 * latent) or latent_parameters (optimum: mean ‖ logvar on channels, of which we take the mean,
 * which keeps img2img deterministic). Integer/float input types are read from the model, since
 * exports differ (input_ids int32 or int64, timestep float32 or int64).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type * as Ort from "onnxruntime-node";
import { loadOrtNode } from "../runtime/ort-native.ts";

type Session = Ort.InferenceSession;

export interface Tensor4 {
  data: Float32Array;
  dims: [number, number, number, number];
}

function inputType(s: Session, name: string): string | undefined {
  const meta = (s as unknown as { inputMetadata?: { name: string; type?: string }[] }).inputMetadata;
  return meta?.find((m) => m.name === name)?.type;
}

function need(s: Session, where: string, inputs: string[], outputs: string[]): void {
  for (const n of inputs) if (!s.inputNames.includes(n)) throw new Error(`${where}: model has no input "${n}" (inputs: ${s.inputNames.join(", ")})`);
  for (const n of outputs) if (!s.outputNames.includes(n)) throw new Error(`${where}: model has no output "${n}" (outputs: ${s.outputNames.join(", ")})`);
}

export class DiffusionComponents {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly text: Session,
    private readonly unetS: Session,
    private readonly decoder: Session,
    private readonly encoder: Session | undefined,
  ) {}

  static async load(dir: string, device = "cpu"): Promise<DiffusionComponents> {
    const ort = await loadOrtNode();
    const open = async (sub: string) => {
      const file = join(dir, sub, "model.onnx");
      if (!existsSync(file)) throw new Error(`${file}: missing (diffusers ONNX layout expected)`);
      return ort.InferenceSession.create(readFileSync(file), { executionProviders: [device], graphOptimizationLevel: "all" });
    };
    const text = await open("text_encoder");
    need(text, "text_encoder", ["input_ids"], ["last_hidden_state"]);
    const unet = await open("unet");
    need(unet, "unet", ["sample", "timestep", "encoder_hidden_states"], ["out_sample"]);
    const decoder = await open("vae_decoder");
    need(decoder, "vae_decoder", ["latent_sample"], ["sample"]);
    const encoder = existsSync(join(dir, "vae_encoder", "model.onnx")) ? await open("vae_encoder") : undefined;
    if (encoder) need(encoder, "vae_encoder", ["sample"], []);
    return new DiffusionComponents(ort, text, unet, decoder, encoder);
  }

  /** Frees the native sessions (the engine's dispose). */
  async release(): Promise<void> {
    for (const s of [this.text, this.unetS, this.decoder, this.encoder]) await s?.release();
  }

  get hasEncoder(): boolean {
    return this.encoder !== undefined;
  }

  /** [rows, tokens] ids → last_hidden_state [rows, tokens, dim]. */
  async encodeText(rows: number[][]): Promise<{ data: Float32Array; dims: number[] }> {
    const flat = rows.flat();
    const dims = [rows.length, rows[0]!.length];
    const ids =
      inputType(this.text, "input_ids") === "int64"
        ? new this.ort.Tensor("int64", BigInt64Array.from(flat, BigInt), dims)
        : new this.ort.Tensor("int32", Int32Array.from(flat), dims);
    const out = await this.text.run({ input_ids: ids });
    const h = out.last_hidden_state!;
    return { data: new Float32Array(h.data as Float32Array), dims: [...h.dims] };
  }

  async unet(sample: Tensor4, timestep: number, hidden: { data: Float32Array; dims: number[] }): Promise<Float32Array> {
    const tType = inputType(this.unetS, "timestep");
    const t =
      tType === "int64"
        ? new this.ort.Tensor("int64", BigInt64Array.of(BigInt(Math.round(timestep))), [1])
        : new this.ort.Tensor("float32", Float32Array.of(timestep), [1]);
    const out = await this.unetS.run({
      sample: new this.ort.Tensor("float32", sample.data, sample.dims),
      timestep: t,
      encoder_hidden_states: new this.ort.Tensor("float32", hidden.data, hidden.dims),
    });
    return new Float32Array(out.out_sample!.data as Float32Array);
  }

  async decode(latents: Tensor4): Promise<Tensor4> {
    const out = (await this.decoder.run({ latent_sample: new this.ort.Tensor("float32", latents.data, latents.dims) })).sample!;
    return { data: new Float32Array(out.data as Float32Array), dims: out.dims as Tensor4["dims"] };
  }

  /** Pixels in [-1, 1] → latents (before scaling_factor). */
  async encode(pixels: Tensor4, latentChannels: number): Promise<Float32Array> {
    if (!this.encoder) throw new Error("img2img needs vae_encoder/model.onnx, which this model folder lacks");
    const out = await this.encoder.run({ sample: new this.ort.Tensor("float32", pixels.data, pixels.dims) });
    const name = this.encoder.outputNames.includes("latent_sample") ? "latent_sample" : this.encoder.outputNames[0]!;
    const t = out[name]!;
    const data = t.data as Float32Array;
    if (t.dims[1] === latentChannels) return new Float32Array(data);
    // latent_parameters: [1, 2C, h, w] = mean ‖ logvar; keep the mean.
    return new Float32Array(data.subarray(0, data.length / 2));
  }
}
