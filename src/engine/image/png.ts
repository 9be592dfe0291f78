/**
 * PNG in and out through fast-png (a kept pure-JS codec, no native code, so it embeds in the
 * compiled binary). Encoding is deterministic for the same pixels: fixed filter choice and zlib
 * level inside fast-png 8.0.0, pinned exactly in package.json. The commitment is over the raw
 * pixels (commitment/image.ts), never over the PNG bytes, so a codec change cannot move a root.
 */
import { decode, encode } from "fast-png";
import type { RgbImage } from "./pipeline.ts";

export function encodePng(img: RgbImage): Uint8Array {
  return encode({ width: img.width, height: img.height, data: img.rgb, channels: 3, depth: 8 });
}

/** Decodes a PNG into 8-bit RGB (alpha dropped, grey expanded, 16-bit reduced). */
export function decodeRgb(bytes: Uint8Array): RgbImage {
  const png = decode(bytes);
  const { width, height, channels } = png;
  const src = png.data;
  const shift = png.depth === 16 ? 8 : 0;
  if (png.palette) throw new Error("palette PNGs are not supported; send RGB or RGBA");
  if (png.depth !== 8 && png.depth !== 16) throw new Error(`PNG bit depth ${png.depth} is not supported (8 or 16)`);
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const ch = channels >= 3 ? c : 0;
      rgb[p * 3 + c] = Number(src[p * channels + ch]) >> shift;
    }
  }
  return { width, height, rgb };
}
