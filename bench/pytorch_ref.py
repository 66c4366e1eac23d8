#!/usr/bin/env python3
"""The PyTorch peer of `deno task bench train`: the same DistilBERT classifier math (HF's, eager attention,
GELU erf, post-LN, masked scores at the f32 minimum), the same presets, shapes and AdamW step, on the CPU
(or with --device cuda, in fp32 eager with TF32 off). Two models: `ours`, this file's hand-written one, and
`hf`, transformers' real DistilBertForSequenceClassification (its default attention implementation), when
transformers is installed. Before timing, the two are given the same weights and must give the same logits
(eval mode, a padded batch; within 1e-4, else exit 1).
Prints one JSON object: {"torch": version, "transformers": version or null, "device": d, "threads": n,
"agreement": {preset: max |logit diff|}, "results": [{model, preset, seq, batch, train_tokens_per_s,
eval_tokens_per_s, train_peak_bytes}, ...]}. Optional: the bench skips it when `import torch` fails.
train_peak_bytes is the memory the train steps held at their peak: on CUDA torch.cuda.max_memory_allocated
(reset before the cell); on the CPU the peak RSS (VmHWM, reset through /proc/self/clear_refs) less the RSS
before any model was built: weights, gradients, AdamW moments and activations, plus whatever glibc kept of
earlier cells (an upper bound).

Debian: apt-get install python3-torch libopenblas0-pthread (without OpenBLAS, Debian's torch uses the
unoptimised reference BLAS); run with /usr/bin/python3."""
import argparse, gc, json, math, os, time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "tiny": dict(dim=128, n_layers=2, n_heads=2, hidden_dim=512),
    "small": dict(dim=256, n_layers=4, n_heads=4, hidden_dim=1024),
    "base": dict(dim=768, n_layers=6, n_heads=12, hidden_dim=3072),
}
VOCAB, POSITIONS = 30522, 512


class Block(nn.Module):
    def __init__(self, dim, n_heads, hidden_dim, p):
        super().__init__()
        self.h, self.p = n_heads, p
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(dim, dim) for _ in range(4))
        self.sa_layer_norm = nn.LayerNorm(dim, eps=1e-12)
        self.lin1, self.lin2 = nn.Linear(dim, hidden_dim), nn.Linear(hidden_dim, dim)
        self.output_layer_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x, mask):
        b, s, d = x.shape
        dh = d // self.h
        heads = lambda t: t.view(b, s, self.h, dh).transpose(1, 2)
        q = heads(self.q_lin(x)) / math.sqrt(dh)
        k, v = heads(self.k_lin(x)), heads(self.v_lin(x))
        scores = q @ k.transpose(2, 3)
        scores = scores.masked_fill((mask == 0).view(b, 1, 1, s), torch.finfo(scores.dtype).min)
        w = F.dropout(scores.softmax(-1), self.p, self.training)
        ctx = (w @ v).transpose(1, 2).reshape(b, s, d)
        h = self.sa_layer_norm(self.out_lin(ctx) + x)
        f = F.dropout(self.lin2(F.gelu(self.lin1(h))), self.p, self.training)
        return self.output_layer_norm(f + h)


class Classifier(nn.Module):
    def __init__(self, dim, n_layers, n_heads, hidden_dim, p=0.1):
        super().__init__()
        self.word = nn.Embedding(VOCAB, dim, padding_idx=0)
        self.pos = nn.Embedding(POSITIONS, dim)
        self.ln = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.ModuleList(Block(dim, n_heads, hidden_dim, p) for _ in range(n_layers))
        self.pre_classifier, self.classifier = nn.Linear(dim, dim), nn.Linear(dim, 2)
        self.p = p

    def forward(self, ids, mask):
        x = self.word(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        x = F.dropout(self.ln(x), self.p, self.training)
        for layer in self.layers:
            x = layer(x, mask)
        h = F.dropout(F.relu(self.pre_classifier(x[:, 0])), 0.2, self.training)
        return self.classifier(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--seqs", default="128,256")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--cells", default=None,
                    help="preset:seq:batch,... (default: every preset x seq at --batch)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (fp32 eager, TF32 off: PyTorch's default)")
    ap.add_argument("--amp", action="store_true",
                    help="CUDA only: torch.autocast(float16) + GradScaler, the peer of our --fp16")
    ap.add_argument("--models", default=None, help="ours,hf (default: both where transformers imports, else ours)")
    a = ap.parse_args()
    try:
        import transformers
        hf_version = transformers.__version__
    except ImportError:
        hf_version = None
    models = (a.models or ("ours,hf" if hf_version else "ours")).split(",")
    if "hf" in models and not hf_version:
        raise SystemExit("--models hf: transformers is not installed")
    device = torch.device("cuda" if a.device == "cuda" and torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    amp = a.amp and device.type == "cuda"
    scaler = torch.cuda.amp.GradScaler() if amp else None
    torch.set_num_threads(os.cpu_count())  # Debian's torch defaults to 1 thread here
    torch.manual_seed(0)
    global RSS_BEFORE_MODELS
    RSS_BEFORE_MODELS = rss_bytes()
    if a.cells:
        cells = [(p, int(s), int(b)) for p, s, b in (c.split(":") for c in a.cells.split(",") if c)]
    else:
        cells = [(p, int(s), a.batch) for p in a.presets.split(",") for s in a.seqs.split(",")]
    results, agreement = [], {}
    for preset in dict.fromkeys(p for p, _, _ in cells):
        built = {"ours": Classifier(**PRESETS[preset])}
        if "hf" in models:
            built["hf"] = hf_model(preset)
            agreement[preset] = agree(built["ours"], built["hf"])
            if agreement[preset] > 1e-4:
                raise SystemExit(f"{preset}: our PyTorch model and transformers' differ by {agreement[preset]}")
        for name in models:
            model = built[name].to(device)
            forward = (lambda ids, mask, m=model: m(input_ids=ids, attention_mask=mask).logits) if name == "hf" \
                else (lambda ids, mask, m=model: m(ids, mask))
            mine = [(s, b) for p, s, b in cells if p == preset]
            results += time_model(model, forward, name, preset, mine, a, device, sync, amp, scaler)
            built[name] = None
            model = None
    print(json.dumps({"torch": torch.__version__, "transformers": hf_version, "device": str(device), "amp": amp,
                      "threads": torch.get_num_threads(), "agreement": agreement, "results": results}))


def hf_model(preset):
    from transformers import DistilBertConfig, DistilBertForSequenceClassification
    p = PRESETS[preset]
    config = DistilBertConfig(vocab_size=VOCAB, max_position_embeddings=POSITIONS, dim=p["dim"], n_layers=p["n_layers"],
                              n_heads=p["n_heads"], hidden_dim=p["hidden_dim"], dropout=0.1, attention_dropout=0.1,
                              seq_classif_dropout=0.2)
    return DistilBertForSequenceClassification(config)


HF_NAMES = [("distilbert.embeddings.word_embeddings.", "word."), ("distilbert.embeddings.position_embeddings.", "pos."),
            ("distilbert.embeddings.LayerNorm.", "ln."), ("distilbert.transformer.layer.", "layers."),
            ("attention.", ""), ("ffn.", "")]


def agree(ours, hf):
    """Copies transformers' weights into ours; the max |logit difference| on a padded batch, in eval mode."""
    state = {}
    for name, t in hf.state_dict().items():
        for a, b in HF_NAMES:
            name = name.replace(a, b)
        state[name] = t
    missing, unexpected = ours.load_state_dict(state, strict=False)
    if missing or [k for k in unexpected if not k.endswith("position_ids")]:
        raise SystemExit(f"weights do not map: missing {missing}, unexpected {unexpected}")
    ours.eval(), hf.eval()
    torch.manual_seed(1)
    ids = torch.randint(1000, 21000, (4, 64))
    ids[:, 0] = 101
    mask = torch.ones_like(ids)
    mask[1, 40:] = 0
    mask[3, 9:] = 0
    ids[mask == 0] = 0
    with torch.no_grad():
        return (ours(ids, mask) - hf(input_ids=ids, attention_mask=mask).logits).abs().max().item()


RSS_BEFORE_MODELS = 0


def rss_bytes(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux)
    except OSError:
        pass


def peak_bytes(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated()
    return max(0, rss_bytes("VmHWM") - RSS_BEFORE_MODELS)


def time_model(model, forward, name, preset, cells, a, device, sync, amp, scaler):
    """Train-step and eval throughput of one model at each (seq, batch) (the same AdamW step and inputs for
    both models), and the memory its train steps held at their peak."""
    no_decay = lambda n: n.endswith("bias") or "ln." in n or "layer_norm" in n or "LayerNorm" in n
    decay = [p for n, p in model.named_parameters() if not no_decay(n)]
    rest = [p for n, p in model.named_parameters() if no_decay(n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=1e-4)
    results = []
    for seq, batch in cells:
        ids = torch.randint(1000, 21000, (batch, seq))
        ids[:, 0] = 101
        ids = ids.to(device)
        mask = torch.ones(batch, seq, dtype=torch.long, device=device)
        labels = (torch.arange(batch) % 2).to(device)

        def step():
            model.train()
            opt.zero_grad()
            if amp:
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = F.cross_entropy(forward(ids, mask), labels)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
                return
            loss = F.cross_entropy(forward(ids, mask), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        gc.collect()
        reset_peak(device)
        step()  # warm-up
        sync()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        sync()
        train_s = (time.perf_counter() - t0) / a.steps
        train_peak = peak_bytes(device)
        model.eval()
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            forward(ids, mask)
            sync()
            t0 = time.perf_counter()
            for _ in range(a.steps):
                forward(ids, mask)
            sync()
            eval_s = (time.perf_counter() - t0) / a.steps
        tokens = batch * seq
        results.append(dict(model=name, preset=preset, seq=seq, batch=batch, train_tokens_per_s=tokens / train_s,
                            eval_tokens_per_s=tokens / eval_s, train_peak_bytes=train_peak))
    return results


if __name__ == "__main__":
    main()
