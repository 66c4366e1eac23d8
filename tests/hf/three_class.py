#!/usr/bin/env python3
"""A 3-class DistilBertForSequenceClassification written by transformers, for tests/hf_labels_test.ts.

    python tests/hf/three_class.py VOCAB_TXT TEXTS_JSON OUT_DIR

The small config of make_checkpoints.py (the real vocabulary, dim 32, 2 layers) with num_labels 3 and named
labels (id2label anger/joy/sadness), weights re-drawn the same way, saved with save_pretrained and
BertTokenizerFast's files in OUT/cls3; OUT/inputs.safetensors (the texts, padded, max_length 64, labels
0, 1, 2, 2, ...) and OUT/expected.safetensors (logits, loss and every gradient: hf_common.forward_backward).
Prints a JSON summary with the config's id2label as transformers reads it back."""
import json, os, sys

import torch
from hf_common import forward_backward, redraw, vocab_tokenizer
from safetensors.torch import save_file
from transformers import AutoConfig, AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification

vocab_txt, texts_json, out = sys.argv[1:4]
torch.manual_seed(4321)
tokenizer = vocab_tokenizer(vocab_txt, 64)
names = ["anger", "joy", "sadness"]
config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64,
                          id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
model = DistilBertForSequenceClassification(config)
assert model.num_labels == 3
redraw(model)
path = os.path.join(out, "cls3")
model.save_pretrained(path)
tokenizer.save_pretrained(path)

texts = json.load(open(texts_json))
enc = AutoTokenizer.from_pretrained(path)(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
labels = torch.tensor([min(i, 2) for i in range(len(texts))])
save_file({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels},
          os.path.join(out, "inputs.safetensors"))
gap = forward_backward(path, os.path.join(out, "inputs.safetensors"), os.path.join(out, "expected.safetensors"))
assert gap < 1e-5, f"float32 and float64 disagree by {gap}: weights too large for a reference"
print(json.dumps({"f32_vs_f64": gap, "id2label": {str(k): v for k, v in AutoConfig.from_pretrained(path).id2label.items()}}))
