#!/usr/bin/env python3
"""Loads one of our exported models in PyTorch and checks that it gives the logits we gave.

    deno task predict --model DIR --json --file reviews.txt > ours.jsonl
    python3 bench/hf_check.py DIR ours.jsonl [--tol 1e-4] [--backend auto|transformers|reference]

transformers (where installed, as on the GPU machine): AutoModelForSequenceClassification.from_pretrained(DIR)
must load with no missing, unexpected or mismatched keys, AutoTokenizer.from_pretrained(DIR) must give our
token ids, and the logits must match ours within --tol. reference (no transformers, as on our CPU machines):
the same check against bench/pytorch_ref.py's model (HF's math) built from DIR's config.json and
model.safetensors read by hand, with our own tokenizer's ids (`deno task tokenize --jsonl`).
Prints one line per text and a summary; exits 1 on any mismatch."""
import argparse, json, math, os, struct, subprocess, sys, tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} has dtype {t['dtype']}, expected F32")
        start, end = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32).reshape(t["shape"])
    return out


def our_ids(texts, max_length, model_dir):
    """Our tokenizer's ids (the model directory's own tokenizer), through `deno task tokenize --jsonl`."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.jsonl")
        with open(src, "w") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
        subprocess.run(["deno", "task", "tokenize", "--jsonl", src, "--out", dst, "--max-length", str(max_length),
                        "--vocab", os.path.abspath(model_dir)],
                       cwd=root, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(dst) as f:
            return [json.loads(line)["ids"] for line in f]


def trained_max_length(model_dir):
    """The max_length `deno task predict` uses by default: the run's run_config.json or training_args.json."""
    for name in ("run_config.json", "training_args.json"):
        try:
            value = json.load(open(os.path.join(model_dir, name))).get("maxLength")
        except (OSError, ValueError):
            continue
        if isinstance(value, int) and value >= 2:
            return value
    return 512


def padded(ids_list):
    width = max(len(x) for x in ids_list)
    ids = torch.zeros(len(ids_list), width, dtype=torch.long)
    mask = torch.zeros(len(ids_list), width, dtype=torch.long)
    for i, x in enumerate(ids_list):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    return ids, mask


def reference_logits(model_dir, texts, max_length):
    from pytorch_ref import Classifier

    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    if cfg.get("activation", "gelu") != "gelu" or cfg.get("sinusoidal_pos_embds"):
        raise SystemExit("reference backend: only gelu, learned positions")
    model = Classifier(cfg["dim"], cfg["n_layers"], cfg["n_heads"], cfg["hidden_dim"])
    weights = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    rename = {
        "distilbert.embeddings.word_embeddings.": "word.",
        "distilbert.embeddings.position_embeddings.": "pos.",
        "distilbert.embeddings.LayerNorm.": "ln.",
        "distilbert.transformer.layer.": "layers.",
        "attention.": "",
        "ffn.": "",
    }
    state = {}
    for name, t in weights.items():
        for a, b in rename.items():
            name = name.replace(a, b)
        state[name] = t
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"reference backend: missing {missing}, unexpected {unexpected}")
    model.eval()
    ids_list = our_ids(texts, max_length, model_dir)
    ids, mask = padded(ids_list)
    with torch.no_grad():
        return model(ids, mask), ids_list


def transformers_logits(model_dir, texts, max_length):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model, info = AutoModelForSequenceClassification.from_pretrained(model_dir, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"transformers: loading {model_dir} reported {problems}")
    model.eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    enc = tok(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    ids_list = [[int(i) for i, m in zip(row, mrow) if m] for row, mrow in zip(enc["input_ids"], enc["attention_mask"])]
    with torch.no_grad():
        return model(**enc).logits, ids_list


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("predictions", help="our `deno task predict --json` output")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--max-length", type=int, default=None,
                    help="default: the model's training max_length (as `deno task predict`), else 512")
    ap.add_argument("--backend", default="auto", choices=["auto", "transformers", "reference"])
    a = ap.parse_args()
    if a.max_length is None:
        a.max_length = trained_max_length(a.model_dir)
    ours = [json.loads(line) for line in open(a.predictions) if line.strip()]
    texts = [o["text"] for o in ours]
    backend = a.backend
    if backend == "auto":
        try:
            import transformers  # noqa: F401
            backend = "transformers"
        except ImportError:
            backend = "reference"
    fn = transformers_logits if backend == "transformers" else reference_logits
    logits, ids_list = fn(a.model_dir, texts, a.max_length)
    worst, bad = 0.0, 0
    for o, row in zip(ours, logits.tolist()):
        diff = max(abs(x - y) for x, y in zip(o["logits"], row))
        worst = max(worst, diff)
        same_label = max(range(len(row)), key=lambda i: row[i]) == max(range(len(row)), key=lambda i: o["logits"][i])
        ok = diff <= a.tol and same_label and not math.isnan(diff)
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} max|diff| {diff:.2e}  ours {o['logits']}  {backend} {row}  {o['text'][:50]!r}")
    if backend == "transformers":
        theirs = our_ids(texts, a.max_length, a.model_dir)
        if theirs != ids_list:
            bad += 1
            print("BAD token ids differ between our tokenizer and transformers' AutoTokenizer")
    print(f"{backend}: {len(ours) - bad}/{len(ours)} match, worst max|diff| {worst:.2e} (tol {a.tol})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
