#!/usr/bin/env python3
"""How Hugging Face `tokenizers` (BertNormalizer, BertPreTokenizer) treats every Unicode code point, one line each:

    code point (decimal) TAB clean TAB cjk TAB stripped TAB lowered TAB split

clean: R (removed by clean_text), W (turned into a space), K (kept); cjk: 1 when handle_chinese_chars pads it
with spaces; stripped / lowered: JSON strings, the code point after strip_accents (NFD, then drop Mn) / after
lowercase alone; split: how BertPreTokenizer treats it between letters: 1 (part of the word), 2 (whitespace), 3 (punctuation).
Written to the file named by argv[1]. Used by scripts/hf_unicode_tables.ts and tests/hf_tokenizer_test.ts."""
import json, sys

from tokenizers import normalizers, pre_tokenizers

SEP = "|"  # ASCII punctuation: every normalizer leaves it alone, and it blocks canonical reordering
chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]


def per_char(normalizer):
    others = [c for c in chars if c != SEP]
    out = iter(normalizer.normalize_str(SEP.join(others)).split(SEP))
    result = [normalizer.normalize_str(c) if c == SEP else next(out) for c in chars]
    assert next(out, None) is None
    return result


bert = normalizers.BertNormalizer
clean = per_char(bert(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False))
cjk = per_char(bert(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False))
stripped = per_char(bert(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False))
lowered = per_char(bert(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True))

# "x" before and after every c: a punctuation mark is a piece of its own, whitespace is in no piece, anything
# else merges with the x's around it. Offsets are in code points; c sits at 2i + 1.
text = "x" + "x".join(chars) + "x"
counts = [1] * len(chars)
covered = bytearray(len(text))
for _, (start, end) in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(text):
    covered[start:end] = b"\x01" * (end - start)
    if end - start == 1 and start % 2 == 1:
        counts[start // 2] = 3
for i in range(len(chars)):
    if not covered[2 * i + 1]:
        counts[i] = 2

with open(sys.argv[1], "w", encoding="utf-8") as f:
    for i, c in enumerate(chars):
        kind = "R" if clean[i] == "" else "W" if clean[i] == " " and c != " " else "K"
        f.write(f"{ord(c)}\t{kind}\t{int(cjk[i] != c)}\t{json.dumps(stripped[i])}\t{json.dumps(lowered[i])}\t{counts[i]}\n")
