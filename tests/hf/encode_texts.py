#!/usr/bin/env python3
"""Token ids from Hugging Face tokenizers, for tests/hf_tokenizer_test.ts.

    python tests/hf/encode_texts.py SPEC.json

SPEC: {"texts": "in.jsonl" (lines {"text": ...}), "max_lengths": [128, 512], "out": DIR, "tokenizers": [...]}
with each tokenizer one of
    {"name": N, "vocab": "vocab.txt", "kwargs": {...}, "save": DIR, "expect_size": 30522, "agree_limit": K}
        BertTokenizerFast(vocab={token: id}, **kwargs) (5.x ignores vocab_file=: pass vocab=), its size
        asserted, then save_pretrained(DIR) and AutoTokenizer.from_pretrained(DIR). The i-th max_length's ids
        for all texts come from the (i mod 2)-th of these two (each full pass costs about a second per
        1,000 reviews here), and both must give the same ids on the first K texts (default: all) at every
        max_length;
    {"name": N, "dir": DIR}
        AutoTokenizer.from_pretrained(DIR);
    optional "added_tokens": [{"content", "special", "normalized", "single_word"}] added before saving, and
    "limit": how many of the texts this one encodes.
Writes OUT/<name>.<max_length>.bin: int32 little-endian n, then n lengths, then the ids (truncation=True,
[CLS] ... [SEP]). Prints one JSON line: sizes, seconds. Exits 1, naming the first text, if two HF tokenizers
of one entry disagree."""
import json, os, sys, time

import numpy as np
from tokenizers import AddedToken
from transformers import AutoTokenizer, BertTokenizerFast


def encode(tok, texts, max_length):
    return tok(texts, truncation=True, max_length=max_length)["input_ids"]


def write(path, rows):
    lengths = np.array([len(r) for r in rows], dtype="<i4")
    flat = np.fromiter((i for r in rows for i in r), dtype="<i4", count=int(lengths.sum()))
    with open(path, "wb") as f:
        f.write(np.array([len(rows)], dtype="<i4").tobytes())
        f.write(lengths.tobytes())
        f.write(flat.tobytes())


def main():
    spec = json.load(open(sys.argv[1]))
    texts = [json.loads(line)["text"] for line in open(spec["texts"], encoding="utf-8")]
    report = {}
    for t in spec["tokenizers"]:
        started = time.time()
        subset = texts[: t["limit"]] if "limit" in t else texts
        if "vocab" in t:
            with open(t["vocab"], encoding="utf-8") as f:
                vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
            built = BertTokenizerFast(vocab=vocab, **t.get("kwargs", {}))
            for a in t.get("added_tokens", []):
                tok = AddedToken(a["content"], special=a.get("special", False), normalized=a.get("normalized", True),
                                 single_word=a.get("single_word", False))
                (built.add_special_tokens({"additional_special_tokens": [tok]}) if a.get("special") else built.add_tokens([tok]))
            if "expect_size" in t and len(built) != t["expect_size"]:
                sys.exit(f"{t['name']}: BertTokenizerFast has {len(built)} tokens, expected {t['expect_size']}")
            built.save_pretrained(t["save"])
            candidates = [("BertTokenizerFast(vocab=...)", built), ("AutoTokenizer(saved)", AutoTokenizer.from_pretrained(t["save"]))]
        else:
            candidates = [("AutoTokenizer", AutoTokenizer.from_pretrained(t["dir"]))]
        agree = subset[: t.get("agree_limit", len(subset))]
        for k, max_length in enumerate(spec["max_lengths"]):
            label, tok = candidates[k % len(candidates)]
            write(os.path.join(spec["out"], f"{t['name']}.{max_length}.bin"), encode(tok, subset, max_length))
            if len(candidates) < 2:
                continue
            (first_label, first), (other_label, other) = [(l, encode(c, agree, max_length)) for l, c in candidates]
            for i, (a, b) in enumerate(zip(first, other)):
                if a != b:
                    sys.exit(f"{t['name']}: {first_label} and {other_label} differ on text {i} {agree[i][:80]!r}")
        report[t["name"]] = {"size": len(candidates[0][1]), "texts": len(subset), "agreed_on": len(agree),
                             "seconds": round(time.time() - started, 2), "class": type(candidates[-1][1]).__name__}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
