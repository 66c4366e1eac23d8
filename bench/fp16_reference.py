#!/usr/bin/env python3
"""Logits of a golden-style model directory (config.json, model.safetensors, inputs.safetensors) in PyTorch,
with HF DistilBERT's math, and with --fp16 the roundings of our mixed precision: every matmul operand
(activations and weights) rounded to float16, products and sums in float32, everything else float32.
An independent check that our fp16 path rounds what it should and nothing else (tests/parity_test.ts).
Prints the logits as one JSON list (row-major [batch, num_labels])."""
import json, math, os, struct, sys

import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        start, end = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[start:end]), dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return out


def main():
    model_dir, fp16 = sys.argv[1], "--fp16" in sys.argv[2:]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    inputs = read_safetensors(os.path.join(model_dir, "inputs.safetensors"))
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    r = (lambda t: t.half().float()) if fp16 else (lambda t: t)
    lin = lambda x, p: r(x) @ r(w[p + ".weight"]).T + w[p + ".bias"]
    ln = lambda x, p: F.layer_norm(x, x.shape[-1:], w[p + ".weight"], w[p + ".bias"], 1e-12)
    b, s = ids.shape
    d, h = cfg["dim"], cfg["n_heads"]
    dh = d // h
    x = w["distilbert.embeddings.word_embeddings.weight"][ids] + \
        w["distilbert.embeddings.position_embeddings.weight"][torch.arange(s)]
    x = ln(x, "distilbert.embeddings.LayerNorm")
    heads = lambda t: t.view(b, s, h, dh).transpose(1, 2)
    for layer in range(cfg["n_layers"]):
        p = f"distilbert.transformer.layer.{layer}"
        q, k, v = (heads(lin(x, p + f".attention.{n}_lin")) for n in "qkv")
        # transformers 5: the product is scaled by 1/sqrt(head_dim), then the mask's finfo.min is added
        scores = (r(q) @ r(k).transpose(2, 3)) * dh**-0.5
        scores = scores.masked_fill((mask == 0).view(b, 1, 1, s), torch.finfo(torch.float32).min)
        ctx = (r(scores.softmax(-1)) @ r(v)).transpose(1, 2).reshape(b, s, d)
        a = ln(lin(ctx, p + ".attention.out_lin") + x, p + ".sa_layer_norm")
        x = ln(lin(F.gelu(lin(a, p + ".ffn.lin1")), p + ".ffn.lin2") + a, p + ".output_layer_norm")
    pooled = F.relu(lin(x[:, 0], "pre_classifier"))
    print(json.dumps(lin(pooled, "classifier").flatten().tolist()))


if __name__ == "__main__":
    main()
