"""Shared by the scripts in tests/hf/ (imported as `hf_common`; the scripts' folder is on sys.path)."""
import torch
from safetensors.torch import load_file, save_file
from transformers import BertTokenizerFast, DistilBertForSequenceClassification


def vocab_tokenizer(vocab_txt, max_length):
    """BertTokenizerFast over the bundled vocab.txt (the hub's distilbert-base-uncased tokenizer, 30,522 tokens)."""
    with open(vocab_txt, encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    tokenizer = BertTokenizerFast(vocab=vocab, model_max_length=max_length)
    assert len(tokenizer) == 30522, f"BertTokenizerFast(vocab=...) has {len(tokenizer)} tokens"
    return tokenizer


def redraw(model, bias_std=0.1, norm_std=0.1, weight_std=0.2):
    """Redraws every parameter (in named_parameters order, so a seed fixes them): biases N(0, bias_std), LayerNorm
    weights N(1, norm_std), the rest N(0, weight_std); larger than HF's init, so gradients are not tiny."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, bias_std)
            elif "layer_norm" in name or "LayerNorm" in name:
                p.normal_(1, norm_std)
            else:
                p.normal_(0, weight_std)
    return model


def forward_backward(model_dir, inputs_path, out_path):
    """transformers' DistilBertForSequenceClassification on one batch: logits, loss and every gradient.

    MODEL_DIR must load with no missing or unexpected keys; INPUTS holds input_ids, attention_mask and labels
    (I64). Eval mode (no dropout), float32, loss = mean cross-entropy, as the golden files define it. OUT gets
    logits, loss and grad.<parameter name>. Returns the float64 logits' distance from float32's (a check that
    the case is well conditioned)."""
    model, info = DistilBertForSequenceClassification.from_pretrained(model_dir, output_loading_info=True)
    problems = {k: sorted(v) for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"{model_dir}: from_pretrained reported {problems}")
    model.eval()
    inputs = load_file(inputs_path)
    out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=inputs["labels"])
    out.loss.backward()
    tensors = {"logits": out.logits.detach().contiguous(), "loss": out.loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        tensors[f"grad.{name}"] = p.grad.detach().contiguous()
    save_file(tensors, out_path)
    with torch.no_grad():
        f64 = model.double()(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    return (out.logits.double() - f64).abs().max().item()
