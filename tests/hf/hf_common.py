"""Shared by the scripts in tests/hf/ (imported as `hf_common`; the scripts' folder is on sys.path)."""
import torch
from safetensors.torch import load_file, save_file
from transformers import DistilBertForSequenceClassification


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
