#!/usr/bin/env python3
"""Model directories written by transformers itself, for tests/hf_checkpoint_test.ts.

    python tests/hf/make_checkpoints.py VOCAB_TXT TEXTS_JSON OUT_DIR

Builds a small DistilBertConfig (the real 30,522-token vocabulary, dim 32, 2 layers, 4 heads, FFN 64, 64
positions), re-draws every weight large enough that every token visibly moves the output (matrices and
embeddings N(0, 0.2), LayerNorm weights 1 + N(0, 0.1), biases N(0, 0.1); at dim 32 float32 and float64 agree
to ~1e-6, checked here), and saves with save_pretrained, each with BertTokenizerFast(vocab=...)'s files:
  OUT/cls   DistilBertForSequenceClassification (NEGATIVE/POSITIVE)
  OUT/mlm   DistilBertForMaskedLM (the hub checkpoint's layout: the projector tied to the word embeddings,
            so safetensors stores it once, under the embeddings' name)
  OUT/base  a bare DistilBertModel (keys without the `distilbert.` prefix)
  OUT/mlm_as_cls  the classifier transformers builds from OUT/mlm (its encoder as loaded, a fresh head)
and OUT/inputs.safetensors (TEXTS_JSON's texts through AutoTokenizer(OUT/cls), padded, max_length 64, and
labels), OUT/expected.safetensors (OUT/cls's logits, loss and gradients on them: hf_common.forward_backward),
OUT/loading.json (output_loading_info of DistilBertForSequenceClassification.from_pretrained for each
directory) and prints a JSON summary."""
import json, os, sys

import torch
from hf_common import forward_backward, redraw, vocab_tokenizer
from safetensors.torch import save_file
from transformers import (AutoTokenizer, DistilBertConfig, DistilBertForMaskedLM,
                          DistilBertForSequenceClassification, DistilBertModel)

vocab_txt, texts_json, out = sys.argv[1:4]
torch.manual_seed(1234)
tokenizer = vocab_tokenizer(vocab_txt, 64)
config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64,
                          id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})


def save(model, name):
    path = os.path.join(out, name)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


cls_dir = save(redraw(DistilBertForSequenceClassification(config)), "cls")
mlm = redraw(DistilBertForMaskedLM(config))
assert mlm.vocab_projector.weight.data_ptr() == mlm.distilbert.embeddings.word_embeddings.weight.data_ptr(), "not tied"
mlm_dir = save(mlm, "mlm")
base_dir = save(redraw(DistilBertModel(config)), "base")

loading = {}
for name, path in [("cls", cls_dir), ("mlm", mlm_dir), ("base", base_dir)]:
    model, info = DistilBertForSequenceClassification.from_pretrained(path, output_loading_info=True)
    loading[name] = {k: sorted(v) if isinstance(v, (set, list)) else v for k, v in info.items()}
    if name == "mlm":
        model.save_pretrained(os.path.join(out, "mlm_as_cls"))
with open(os.path.join(out, "loading.json"), "w") as f:
    json.dump(loading, f, indent=1)

texts = json.load(open(texts_json))
tok = AutoTokenizer.from_pretrained(cls_dir)
enc = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
labels = torch.tensor([i % 2 for i in range(len(texts))])
save_file({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels},
          os.path.join(out, "inputs.safetensors"))

# The reference must be well conditioned: float64 agrees with float32.
gap = forward_backward(cls_dir, os.path.join(out, "inputs.safetensors"), os.path.join(out, "expected.safetensors"))
assert gap < 1e-5, f"float32 and float64 disagree by {gap}: weights too large for a reference"
print(json.dumps({"f32_vs_f64": gap, "seq": int(enc["input_ids"].shape[1]), "lengths": enc["attention_mask"].sum(1).tolist()}))
