/**
 * The PyTorch eager side of the GPU harness (gpu.bench.ts), as a script the harness writes to a
 * temporary file and runs with the machine's python3: a randomly initialised transformers
 * LlamaForCausalLM of the same shape, fp16 (q4f16 runs as fp16 there: eager PyTorch has no 4-bit
 * path), greedy decode with its KV cache, one JSON line per dtype and batch.
 */
export const TORCH_REFERENCE = String.raw`
import json, sys, time, torch
from transformers import LlamaConfig, LlamaForCausalLM
a = json.loads(sys.argv[1]); s = a["shape"]
dev = "cuda" if torch.cuda.is_available() else "cpu"
cfg = LlamaConfig(hidden_size=s["hiddenSize"], intermediate_size=s["intermediateSize"], num_hidden_layers=s["numLayers"],
                  num_attention_heads=s["numHeads"], num_key_value_heads=s["numKvHeads"], vocab_size=s["vocabSize"],
                  max_position_embeddings=s["maxPositions"], attn_implementation="eager")
torch.manual_seed(0)
model = LlamaForCausalLM(cfg).to(dev, torch.float16 if dev == "cuda" else torch.float32).eval()
def sync():
    if dev == "cuda": torch.cuda.synchronize()
@torch.no_grad()
def run(b, n):
    ids = torch.randint(300, 31000, (b, 32), device=dev)
    sync(); t0 = time.perf_counter()
    out = model(input_ids=ids, use_cache=True); past = out.past_key_values
    nxt = out.logits[:, -1].argmax(-1, keepdim=True); sync(); t1 = time.perf_counter()
    for _ in range(n - 1):
        out = model(input_ids=nxt, past_key_values=past, use_cache=True); past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    sync(); t2 = time.perf_counter()
    return (t1 - t0) * 1000, b * (n - 1) / (t2 - t1)
run(1, 4)
for d in a["dtypes"]:
    for b in a["batches"]:
        ttft, tps = run(b, a["tokens"])
        print(json.dumps({"dtype": d, "batch": b, "tps": tps, "ttft_ms": ttft, "device": dev}), flush=True)
`;
