/**
 * Byte-exact BCS fixtures written by hand from the Move layouts (spec atoma-protocol.md §4), not
 * produced by our encoder: each hex string is concatenated field by field in declaration order.
 */
const rep = (byte: string) => byte.repeat(32);
export const u64le = (n: bigint) => {
  let s = "";
  for (let i = 0n; i < 8n; i++) s += ((n >> (8n * i)) & 0xffn).toString(16).padStart(2, "0");
  return s;
};
const ascii = (s: string) => Buffer.from(s, "ascii").toString("hex");

export const ID11 = `0x${rep("11")}`;
export const ID22 = `0x${rep("22")}`;
export const ID33 = `0x${rep("33")}`;
export const ID44 = `0x${rep("44")}`;
export const ID55 = `0x${rep("55")}`;

/** Spec §4.4, verbatim (152 bytes). */
export const TEXT2TEXT_152 = [
  rep("11"),
  "1000000000000000",
  "1a" + "6c6c616d615f74696e795f6c6c616d615f315f31625f63686174",
  "00",
  "00",
  "02" + "6869",
  "2a00000000000000",
  "4000000000000000",
  "cdcc8c3f",
  "00",
  "3333333f",
  "2800000000000000",
  "6666663f",
  "0300000000000000",
  "03" + "0700000000000000" + "0200000000000000" + "0900000000000000",
  "09" + "a84669726562617365",
].join("");

/** Spec §4.4 smaller vectors. */
export const FIRST_SUBMISSION = rep("11") + "0700000000000000";
export const NEWLY_SAMPLED = rep("22") + "01" + "0500000000000000" + "0100000000000000";
export const DISPUTE_NONE = rep("33") + "00";

/** DisputeEvent with Some(TimeoutInfo{3, 60000, 12, 1700000000000}). */
export const DISPUTE_SOME = rep("33") + "01" + u64le(3n) + u64le(60000n) + u64le(12n) + u64le(1700000000000n);

/** NewlySampledNodesEvent with two entries: {7, order 2}, {9, order 5}. */
export const NEWLY_SAMPLED_2 = rep("22") + "02" + u64le(7n) + u64le(2n) + u64le(9n) + u64le(5n);

export const SETTLED_NONE = rep("44") + "00";
export const SETTLED_SOME = rep("44") + "01" + u64le(12n);
export const RETRY_SETTLEMENT = rep("44") + u64le(4n);
export const NODE_REGISTERED = rep("55") + u64le(7n);
export const NODE_SUBSCRIBED = u64le(7n) + "0a" + ascii("llama_tiny") + u64le(2n);
export const PUBLISHED = rep("11") + rep("22");

/** Text2ImagePromptEvent: guidance 7.5, height 512, img2img Some("img"), strength 0.5, model "sd",
 * n_steps 30, num_samples 1, output_destination [], prompt "cat", seed 2^64-1, uncond "", width 512;
 * chunks_count 1, nodes [7], output_destination "Firebase". */
export const TEXT2IMAGE = [
  rep("11"),
  "0000f040", // guidance_scale 7.5 = 0x40F00000
  u64le(512n),
  "01" + "03" + ascii("img"),
  "0000003f", // 0.5 = 0x3F000000
  "02" + ascii("sd"),
  u64le(30n),
  u64le(1n),
  "00",
  "03" + ascii("cat"),
  "ffffffffffffffff",
  "00",
  u64le(512n),
  u64le(1n),
  "01" + u64le(7n),
  "09" + "a84669726562617365",
].join("");
