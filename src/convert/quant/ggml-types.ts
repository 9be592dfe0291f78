/**
 * ggml tensor types as GGUF and GGML `ggjt` files store them: type id → block size (values per
 * block) and type size (bytes per block), per ggml's block definitions (ggml-common.h). Only the
 * types with a decoder here are importable; any other id is named in a one-line error, so a file
 * using, say, IQ2_XXS fails before anything is written instead of producing garbage weights.
 */
import { ConvertError } from "../tensors.ts";

export interface GgmlType {
  id: number;
  name: string;
  /** Values per block (1 for plain floats). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

const t = (id: number, name: string, blockSize: number, typeSize: number): GgmlType => ({ id, name, blockSize, typeSize });

/** Super-block size of the K-quants. */
export const QK_K = 256;

// prettier-ignore
const SUPPORTED: GgmlType[] = [
  t(0, "F32", 1, 4),
  t(1, "F16", 1, 2),
  t(2, "Q4_0", 32, 2 + 16),          // d, 16 bytes of nibbles
  t(3, "Q4_1", 32, 2 + 2 + 16),      // d, m, nibbles
  t(6, "Q5_0", 32, 2 + 4 + 16),      // d, 32 high bits, nibbles
  t(7, "Q5_1", 32, 2 + 2 + 4 + 16),  // d, m, high bits, nibbles
  t(8, "Q8_0", 32, 2 + 32),          // d, 32 int8
  t(12, "Q4_K", QK_K, 2 + 2 + 12 + 128),      // d, dmin, 6-bit scales/mins, nibbles
  t(13, "Q5_K", QK_K, 2 + 2 + 12 + 32 + 128), // d, dmin, scales/mins, high bits, nibbles
  t(14, "Q6_K", QK_K, 128 + 64 + 16 + 2),     // low nibbles, high 2 bits, int8 scales, d
  t(30, "BF16", 1, 2),
];

/** Types ggml defines that this importer does not decode (named in errors). */
const KNOWN_UNSUPPORTED: Record<number, string> = {
  4: "Q4_2 (removed from ggml)", 5: "Q4_3 (removed from ggml)", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K",
  16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
  24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
};

export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map(SUPPORTED.map((x) => [x.id, x]));
export const SUPPORTED_TYPE_NAMES = SUPPORTED.map((x) => x.name).join(", ");

export function ggmlTypeByName(name: string): GgmlType {
  const found = SUPPORTED.find((x) => x.name === name);
  if (!found) throw new Error(`unknown ggml type ${name}`);
  return found;
}

/** The type, or a ConvertError naming the tensor, the id and what is supported. */
export function ggmlType(id: number, where: string): GgmlType {
  const ty = GGML_TYPES.get(id);
  if (ty) return ty;
  const known = KNOWN_UNSUPPORTED[id];
  throw new ConvertError(
    `${where}: tensor type ${known ? `${known} (${id})` : `${id} is not a ggml type`} is not supported (supported: ${SUPPORTED_TYPE_NAMES})`,
  );
}

/** Bytes a tensor of `count` values takes; `count` must fill whole blocks along the row. */
export function tensorBytes(ty: GgmlType, rowLength: number, count: number, where: string): number {
  if (rowLength % ty.blockSize !== 0) {
    throw new ConvertError(`${where}: rows of ${rowLength} values do not fill whole ${ty.name} blocks of ${ty.blockSize}`);
  }
  return (count / ty.blockSize) * ty.typeSize;
}
