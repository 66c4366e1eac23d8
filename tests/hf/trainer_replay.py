#!/usr/bin/env python3
"""The notebook's training path in transformers itself, for tests/hf_trainer_test.ts.

    python tests/hf/trainer_replay.py VOCAB_TXT ROWS.jsonl SETTINGS.json INIT_DIR OUT_DIR

Saves a small DistilBertForSequenceClassification (the real 30,522-token vocabulary, dim 32, 2 layers, 2
heads, FFN 64, 64 positions, every dropout 0, transformers' own initialisation, seed SETTINGS.seed) with
BertTokenizerFast(vocab=...)'s files into INIT_DIR: the start both trainers load. Then trains it with
transformers.Trainer + TrainingArguments as the sequence-classification guide does (AdamW, a linear schedule
with warmup, weight decay, max_grad_norm, DataCollatorWithPadding), with a sequential sampler, on CPU, for
SETTINGS.max_steps steps over ROWS ({"text", "label"} lines, tokenized by AutoTokenizer(INIT_DIR) with
truncation at SETTINGS.max_length). Writes OUT_DIR/final.safetensors (the weights after the last step) and
prints one JSON object: the per-step losses, grad norms and learning rates Trainer logged (logging_steps=1),
the exact (float64) norm of the gradients Trainer clipped, and get_decay_parameter_names.

Optional SETTINGS keys (scripts/hf_defaults_replay.ts): "model", DistilBertConfig arguments that replace the
small model's (e.g. DistilBERT-base: dim 768, 6 layers, 12 heads, FFN 3072, 512 positions; dropout stays 0);
"eval_rows", a {"text", "label"} JSONL file whose rows the trained model then classifies, in eval mode, in
one batch at SETTINGS.max_length: their logits are printed as "eval_logits"."""
import json, os, sys

import torch
from safetensors.torch import save_file
from transformers import (AutoTokenizer, BertTokenizerFast, DataCollatorWithPadding, DistilBertConfig,
                          DistilBertForSequenceClassification, Trainer, TrainingArguments, set_seed)

vocab_txt, rows_path, settings_path, init_dir, out_dir = sys.argv[1:6]
s = json.load(open(settings_path))
set_seed(s["seed"])
with open(vocab_txt, encoding="utf-8") as f:
    vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
shape = dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64)
shape.update(s.get("model", {}))
tokenizer = BertTokenizerFast(vocab=vocab, model_max_length=shape["max_position_embeddings"])
assert len(tokenizer) == 30522, f"BertTokenizerFast(vocab=...) has {len(tokenizer)} tokens"
config = DistilBertConfig(vocab_size=30522, **shape, dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0,
                          id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
DistilBertForSequenceClassification(config).save_pretrained(init_dir)
tokenizer.save_pretrained(init_dir)

tok = AutoTokenizer.from_pretrained(init_dir)
rows = [json.loads(line) for line in open(rows_path, encoding="utf-8")]
enc = tok([r["text"] for r in rows], truncation=True, max_length=s["max_length"])
dataset = [{"input_ids": ids, "attention_mask": mask, "labels": r["label"]}
           for ids, mask, r in zip(enc["input_ids"], enc["attention_mask"], rows)]

model = DistilBertForSequenceClassification.from_pretrained(init_dir)
args = TrainingArguments(
    output_dir=os.path.join(out_dir, "trainer"),
    per_device_train_batch_size=s["batch_size"],
    learning_rate=s["lr"],
    weight_decay=s["weight_decay"],
    warmup_steps=s["warmup_steps"],
    max_grad_norm=s["max_grad_norm"],
    max_steps=s["max_steps"],
    lr_scheduler_type="linear",
    optim="adamw_torch",
    train_sampling_strategy="sequential",
    logging_steps=1,
    save_strategy="no",
    eval_strategy="no",
    report_to=[],
    seed=s["seed"],
    use_cpu=True,
    disable_tqdm=True,
)
trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tok))
decay = trainer.get_decay_parameter_names(model)
# The gradient norm each step, exactly (float64 over Trainer's float32 gradients, before clipping): the norm
# Trainer logs comes from clip_grad_norm_'s float32 reductions, which at DistilBERT-base's size (a 23M-value
# embedding gradient) are off by about 1e-4 relative on the CPU.
exact_norms = []
clip = trainer._clip_grad_norm


def clip_and_record(m):
    exact_norms.append(sum(p.grad.double().pow(2).sum().item() for p in m.parameters() if p.grad is not None) ** 0.5)
    return clip(m)


trainer._clip_grad_norm = clip_and_record
trainer.train()
steps = [h for h in trainer.state.log_history if "loss" in h]
eval_logits = None
if "eval_rows" in s:
    eval_texts = [json.loads(line)["text"] for line in open(s["eval_rows"], encoding="utf-8")]
    batch = tok(eval_texts, truncation=True, max_length=s["max_length"], padding=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        eval_logits = model(**batch).logits.tolist()
save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, os.path.join(out_dir, "final.safetensors"))
print(json.dumps({
    "losses": [h["loss"] for h in steps],
    "grad_norms": [float(h["grad_norm"]) for h in steps],
    "grad_norms_exact": exact_norms,
    "learning_rates": [h["learning_rate"] for h in steps],
    "decay_parameters": sorted(decay),
    "parameters": [n for n, _ in model.named_parameters()],
    "optimizer": type(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer).__name__,
    "torch_threads": torch.get_num_threads(),
    **({"eval_logits": eval_logits} if eval_logits is not None else {}),
}))
