#!/usr/bin/env python3
"""transformers' own tokenizer files, for tests/hf_tokenizer_test.ts.

    python tests/hf/save_tokenizer.py VOCAB_TXT BUILT_DIR MODEL_DIR RESAVED_DIR

BUILT_DIR: BertTokenizerFast(vocab=<VOCAB_TXT's tokens>, model_max_length=512).save_pretrained (its size
asserted: 5.x ignores vocab_file=, so the vocabulary is passed as vocab=). RESAVED_DIR:
AutoTokenizer.from_pretrained(MODEL_DIR).save_pretrained."""
import sys

from transformers import AutoTokenizer, BertTokenizerFast

vocab_txt, built_dir, model_dir, resaved_dir = sys.argv[1:5]
with open(vocab_txt, encoding="utf-8") as f:
    vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
built = BertTokenizerFast(vocab=vocab, model_max_length=512)
if len(built) != len(vocab):
    sys.exit(f"BertTokenizerFast(vocab=...) has {len(built)} tokens, the file {len(vocab)}")
built.save_pretrained(built_dir)
AutoTokenizer.from_pretrained(model_dir).save_pretrained(resaved_dir)
