/**
 * A small embedding model the tests build: a BERT-shaped transformers.js directory (config.json
 * `BertModel`, the stories260K tokenizer, onnx/model.onnx) whose graph is
 *   last_hidden_state = tanh(word_embeddings[input_ids] + token_type_embeddings[token_type_ids])
 * with seeded random tables, so a test can compute the expected mean-pooled vector by hand.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GraphBuilder } from "../../src/engine/models/onnx-graph.ts";
import { mulberry32 } from "./random-llama.ts";

export interface EmbeddingModel {
  dir: string;
  hidden: number;
  /** [vocab × hidden] word embeddings. */
  words: Float32Array;
  /** [2 × hidden] token type embeddings (type 0 is used). */
  types: Float32Array;
}

export function buildEmbeddingModel(dir: string, tokenizerDir: string, hidden = 16): EmbeddingModel {
  const vocab = 512;
  const rnd = mulberry32(1234);
  const words = Float32Array.from({ length: vocab * hidden }, () => rnd() * 2 - 1);
  const types = Float32Array.from({ length: 2 * hidden }, () => (rnd() * 2 - 1) * 0.1);
  const g = new GraphBuilder();
  const ids = g.input("input_ids", "int64", ["batch", "seq"]);
  g.input("attention_mask", "int64", ["batch", "seq"]);
  const tt = g.input("token_type_ids", "int64", ["batch", "seq"]);
  const w = g.initializer("word_embeddings", words, [vocab, hidden]);
  const t = g.initializer("token_type_embeddings", types, [2, hidden]);
  const sum = g.op("Add", [g.op("Gather", [w, ids], { axis: 0 }), g.op("Gather", [t, tt], { axis: 0 })]);
  g.op("Tanh", [sum], {}, { outputs: ["last_hidden_state"] });
  g.output("last_hidden_state", "float32", ["batch", "seq", hidden]);
  mkdirSync(join(dir, "onnx"), { recursive: true });
  writeFileSync(join(dir, "onnx", "model.onnx"), g.encode("tiny-embedder", "atoma-node tests").model);
  writeFileSync(join(dir, "config.json"), JSON.stringify({ model_type: "bert", architectures: ["BertModel"], hidden_size: hidden, vocab_size: vocab, max_position_embeddings: 128, type_vocab_size: 2 }));
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(tokenizerDir, f), join(dir, f));
  return { dir, hidden, words, types };
}

/** The vector the node must return: mean of tanh(word[id] + type[0]) over the ids, L2-normalised. */
export function expectedEmbedding(m: EmbeddingModel, ids: number[]): number[] {
  const mean = new Float64Array(m.hidden);
  for (const id of ids) for (let j = 0; j < m.hidden; j++) mean[j]! += Math.tanh(Math.fround(m.words[id * m.hidden + j]! + m.types[j]!)) / ids.length;
  const norm = Math.hypot(...mean);
  return [...mean].map((v) => v / norm);
}
