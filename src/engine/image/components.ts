/**
 * The diffusers ONNX export's four sessions (text_encoder/, unet/, vae_decoder/, vae_encoder/
 * each holding model.onnx) with the export's tensor names: text_encoder input_ids →
 * last_hidden_state; unet sample, timestep, encoder_hidden_states → out_sample; vae_decoder
 * latent_sample → sample; vae_encoder sample → latent_sample (diffusers' script, a sampled
 * latent) or latent_parameters (optimum: mean ‖ logvar on channels, of which we take the mean,
 * which keeps img2img deterministic). Integer/float input types are read from the model, since
 * exports differ (input_ids int32 or int64, timestep float32 or int64).
 * SDXL adds text_encoder_2/ (CLIPTextModelWithProjection: text_embeds, last_hidden_state,
 * hidden_states.0 … hidden_states.L) and the UNet's `text_embeds` / `time_ids` inputs.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type * as Ort from "onnxruntime-node";
import { loadOrtNode } from "../runtime/ort-native.ts";

type Session = Ort.InferenceSession;

export interface Tensor4 {
  data: Float32Array;
  dims: [number, number, number, number];
}

export interface FloatTensor {
  data: Float32Array;
  dims: number[];
}

/** What the UNet is conditioned on: the text states, and for SDXL the pooled embeds and time ids. */
export interface UnetConditioning {
  hidden: FloatTensor;
  textEmbeds?: FloatTensor;
  timeIds?: FloatTensor;
}

export interface TextEncoding {
  hidden: FloatTensor;
  /** pooler_output (text_encoder) or text_embeds (text_encoder_2), when the model exports it. */
  pooled?: FloatTensor;
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
    private readonly text2: Session | undefined,
  ) {}

  static async load(dir: string, device = "cpu"): Promise<DiffusionComponents> {
    const ort = await loadOrtNode();
    const open = async (sub: string) => {
      const file = join(dir, sub, "model.onnx");
      if (!existsSync(file)) throw new Error(`${file}: missing (diffusers ONNX layout expected)`);
      // By path, so external data (model.onnx_data beside it) resolves.
      return ort.InferenceSession.create(file, { executionProviders: [device], graphOptimizationLevel: "all" });
    };
    const text = await open("text_encoder");
    need(text, "text_encoder", ["input_ids"], ["last_hidden_state"]);
    const unet = await open("unet");
    need(unet, "unet", ["sample", "timestep", "encoder_hidden_states"], ["out_sample"]);
    const decoder = await open("vae_decoder");
    need(decoder, "vae_decoder", ["latent_sample"], ["sample"]);
    const encoder = existsSync(join(dir, "vae_encoder", "model.onnx")) ? await open("vae_encoder") : undefined;
    if (encoder) need(encoder, "vae_encoder", ["sample"], []);
    let text2: Session | undefined;
    if (existsSync(join(dir, "text_encoder_2"))) {
      text2 = await open("text_encoder_2");
      need(text2, "text_encoder_2", ["input_ids"], ["text_embeds"]);
      need(unet, "unet (SDXL)", ["text_embeds", "time_ids"], []);
    }
    return new DiffusionComponents(ort, text, unet, decoder, encoder, text2);
  }

  get isSdxl(): boolean {
    return this.text2 !== undefined;
  }

  /** Frees the native sessions (the engine's dispose). */
  async release(): Promise<void> {
    for (const s of [this.text, this.text2, this.unetS, this.decoder, this.encoder]) await s?.release();
  }

  get hasEncoder(): boolean {
    return this.encoder !== undefined;
  }

  /**
   * [rows, tokens] ids → text states [rows, tokens, dim] and the pooled output. `which`: the
   * first or the second (SDXL) encoder; `layer`: last_hidden_state, or the penultimate layer's
   * output (hidden_states[-2], before final_layer_norm) that SDXL conditions on.
   */
  async encodeText(rows: number[][], which: 1 | 2 = 1, layer: "last" | "penultimate" = "last"): Promise<TextEncoding> {
    const s = which === 1 ? this.text : this.text2;
    const where = which === 1 ? "text_encoder" : "text_encoder_2";
    if (!s) throw new Error(`${where}/model.onnx is not loaded`);
    const flat = rows.flat();
    const dims = [rows.length, rows[0]!.length];
    const ids =
      inputType(s, "input_ids") === "int64"
        ? new this.ort.Tensor("int64", BigInt64Array.from(flat, BigInt), dims)
        : new this.ort.Tensor("int32", Int32Array.from(flat), dims);
    let hiddenName = "last_hidden_state";
    if (layer === "penultimate") {
      const layers = s.outputNames.map((n) => /^hidden_states\.(\d+)$/.exec(n)?.[1]).filter((n) => n !== undefined).map(Number);
      if (layers.length < 2) throw new Error(`${where}: model exports no hidden_states.N outputs (SDXL needs the penultimate layer; outputs: ${s.outputNames.join(", ")})`);
      hiddenName = `hidden_states.${Math.max(...layers) - 1}`;
    }
    const pooledName = ["text_embeds", "pooler_output"].find((n) => s.outputNames.includes(n));
    const out = await s.run({ input_ids: ids }, pooledName ? [hiddenName, pooledName] : [hiddenName]);
    const copy = (t: Ort.Tensor): FloatTensor => ({ data: new Float32Array(t.data as Float32Array), dims: [...t.dims] });
    return { hidden: copy(out[hiddenName]!), ...(pooledName ? { pooled: copy(out[pooledName]!) } : {}) };
  }

  async unet(sample: Tensor4, timestep: number, cond: UnetConditioning): Promise<Float32Array> {
    const tType = inputType(this.unetS, "timestep");
    const t =
      tType === "int64"
        ? new this.ort.Tensor("int64", BigInt64Array.of(BigInt(Math.round(timestep))), [1])
        : new this.ort.Tensor("float32", Float32Array.of(timestep), [1]);
    const f32 = (x: FloatTensor) => new this.ort.Tensor("float32", x.data, x.dims);
    const feeds: Record<string, Ort.Tensor> = { sample: new this.ort.Tensor("float32", sample.data, sample.dims), timestep: t, encoder_hidden_states: f32(cond.hidden) };
    if (cond.textEmbeds) feeds.text_embeds = f32(cond.textEmbeds);
    if (cond.timeIds) feeds.time_ids = f32(cond.timeIds);
    const out = await this.unetS.run(feeds);
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
