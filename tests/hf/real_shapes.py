#!/usr/bin/env python3
"""A DistilBERT-base-size classifier at the shapes users train at, for tests/hf_real_shapes_test.ts.

    python tests/hf/real_shapes.py VOCAB_TXT OUT_DIR LAYERS

Builds DistilBertForSequenceClassification with distilbert-base-uncased's widths (dim 768, 12 heads, FFN
3072, 512 positions, the real 30,522-token vocabulary) and LAYERS layers, re-draws its weights (matrices and
embeddings N(0, 0.05), LayerNorm weights 1 + N(0, 0.05), biases N(0, 0.05): large enough that every token
moves the output, small enough that float32 and float64 agree), and saves it with save_pretrained and
BertTokenizerFast's files in OUT/model. Then, through hf_common.forward_backward (eval mode, float32):
  OUT/train.safetensors, OUT/train_expected.safetensors  a train batch of 16 × 512, every row 512 real tokens:
                                                          logits, loss and every gradient
  OUT/eval.safetensors, OUT/eval_expected.safetensors    an eval batch of 32 × 512, 28 full rows and four
                                                          padded to 512 (lengths 37, 128, 300, 511)
Prints a JSON summary: float32-vs-float64 logit gaps, the train batch's gradient norm, and its worst
float32-vs-float64 gradient gap (relative to each gradient's largest entry)."""
import json, os, sys

import torch
from hf_common import forward_backward, redraw, vocab_tokenizer
from safetensors.torch import load_file, save_file
from transformers import DistilBertConfig, DistilBertForSequenceClassification

vocab_txt, out, layers = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(2024)
tokenizer = vocab_tokenizer(vocab_txt, 512)
config = DistilBertConfig(n_layers=layers, id2label={0: "NEGATIVE", 1: "POSITIVE"},
                          label2id={"NEGATIVE": 0, "POSITIVE": 1})
model = DistilBertForSequenceClassification(config)
redraw(model, 0.05, 0.05, 0.05)
model_dir = os.path.join(out, "model")
model.save_pretrained(model_dir)
tokenizer.save_pretrained(model_dir)


def batch(rows, lengths, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 30000, (rows, 512), generator=g)
    mask = torch.zeros(rows, 512, dtype=torch.long)
    for r, n in enumerate(lengths):
        ids[r, 0], ids[r, n - 1] = 101, 102
        ids[r, n:] = 0
        mask[r, :n] = 1
    labels = torch.arange(rows) % 2
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


summary = {}
for name, rows, lengths, seed in [("train", 16, [512] * 16, 1), ("eval", 32, [512] * 28 + [37, 128, 300, 511], 2)]:
    inputs = os.path.join(out, f"{name}.safetensors")
    save_file(batch(rows, lengths, seed), inputs)
    expected = os.path.join(out, f"{name}_expected.safetensors")
    summary[f"{name}_f32_vs_f64"] = forward_backward(model_dir, inputs, expected)
    if name == "train":
        grads = {k: t for k, t in load_file(expected).items() if k.startswith("grad.")}
        summary["train_grad_norm"] = torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values())).item()
        # The reference's own gradients against float64's, each relative to its largest entry (the gradients
        # that are analytically zero, k_lin.bias, left out): a check of the reference, not of us.
        f64 = DistilBertForSequenceClassification.from_pretrained(model_dir).double().eval()
        batch_in = load_file(inputs)
        f64(input_ids=batch_in["input_ids"], attention_mask=batch_in["attention_mask"],
            labels=batch_in["labels"]).loss.backward()
        largest = max(g.abs().max().item() for g in grads.values())
        gaps = [(grads[f"grad.{n}"].double() - p.grad).abs().max().item() / g.abs().max().item()
                for n, p in f64.named_parameters()
                if (g := grads[f"grad.{n}"]).abs().max().item() > 1e-6 * largest]
        summary["train_grad_f32_vs_f64"] = max(gaps)
print(json.dumps(summary))
