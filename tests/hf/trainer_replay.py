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
and get_decay_parameter_names."""
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
tokenizer = BertTokenizerFast(vocab=vocab, model_max_length=64)
assert len(tokenizer) == 30522, f"BertTokenizerFast(vocab=...) has {len(tokenizer)} tokens"
config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64,
                          dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0,
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
trainer.train()
steps = [h for h in trainer.state.log_history if "loss" in h]
save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, os.path.join(out_dir, "final.safetensors"))
print(json.dumps({
    "losses": [h["loss"] for h in steps],
    "grad_norms": [float(h["grad_norm"]) for h in steps],
    "learning_rates": [h["learning_rate"] for h in steps],
    "decay_parameters": sorted(decay),
    "parameters": [n for n, _ in model.named_parameters()],
    "optimizer": type(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer).__name__,
    "torch_threads": torch.get_num_threads(),
}))
