/**
 * What an image job commits to (spec §8.1). September-2024 contracts and later: the raw pixels
 * alone (row-major H×W×3 RGB, u8). The July reference appended u64_le(width) ‖ u64_le(height)
 * (its struct names them the other way round; the values are width then height). For
 * `num_samples` > 1 the reference generated every image but returned and committed only the
 * last one; all nodes of an echelon must follow the same rule, so we keep it.
 */
import { commit, type Commitment } from "./merkle.ts";

export type ImageCommitLayout = "pixels" | "pixels+size";

export interface RgbPixels {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export function imageCommittedBytes(img: RgbPixels, layout: ImageCommitLayout = "pixels"): Uint8Array {
  if (img.rgb.length !== img.width * img.height * 3) {
    throw new RangeError(`image is ${img.rgb.length} bytes; ${img.width}x${img.height} RGB needs ${img.width * img.height * 3}`);
  }
  if (layout === "pixels") return img.rgb;
  const out = new Uint8Array(img.rgb.length + 16);
  out.set(img.rgb, 0);
  const v = new DataView(out.buffer);
  v.setBigUint64(img.rgb.length, BigInt(img.width), true);
  v.setBigUint64(img.rgb.length + 8, BigInt(img.height), true);
  return out;
}

/** Commitment of an image job's output: the last of its images (see above). */
export function commitImages(images: readonly RgbPixels[], n: number, index: number, layout: ImageCommitLayout = "pixels"): Commitment {
  const last = images.at(-1);
  if (!last) throw new RangeError("image job produced no image");
  return commit(imageCommittedBytes(last, layout), n, index);
}
