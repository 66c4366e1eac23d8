#!/usr/bin/env python3
"""An exported model directory through transformers, for tests/hf_export_test.ts.

    python tests/hf/check_export.py EXPORT_DIR TEXTS.json RESAVED_DIR

Loads EXPORT_DIR as a user would: AutoModelForSequenceClassification.from_pretrained (output_loading_info),
AutoTokenizer.from_pretrained, pipeline("sentiment-analysis") with every label's score; computes the logits of
model(**tokenizer(texts, truncation=True, padding=True)); re-saves model and tokenizer into RESAVED_DIR
(save_pretrained: what transformers writes for the same model). Prints one JSON object."""
import json, sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

export_dir, texts_json, resaved_dir = sys.argv[1:4]
texts = json.load(open(texts_json))
model, info = AutoModelForSequenceClassification.from_pretrained(export_dir, output_loading_info=True)
model.eval()
tokenizer = AutoTokenizer.from_pretrained(export_dir)
# Saved before use: encoding with padding=True leaves the padding settings in the backend's tokenizer.json.
model.save_pretrained(resaved_dir)
tokenizer.save_pretrained(resaved_dir)
enc = tokenizer(texts, truncation=True, padding=True, return_tensors="pt")
with torch.no_grad():
    logits = model(**enc).logits
classify = pipeline("sentiment-analysis", model=export_dir, device="cpu")
scores = classify(texts, truncation=True, top_k=None)
print(json.dumps({
    "loading_info": {k: sorted(v) if isinstance(v, (set, list)) else v for k, v in info.items()},
    "model_class": type(model).__name__,
    "tokenizer_class": type(tokenizer).__name__,
    "model_max_length": tokenizer.model_max_length,
    "ids": [[int(i) for i, m in zip(row, mask) if m] for row, mask in zip(enc["input_ids"], enc["attention_mask"])],
    "logits": logits.tolist(),
    "pipeline": [{s["label"]: s["score"] for s in row} for row in scores],
}))
