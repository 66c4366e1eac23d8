#!/usr/bin/env python3
"""torch.optim.AdamW + clip_grad_norm_ + transformers' get_linear_schedule_with_warmup, for
tests/hf_optimizer_test.ts.

    python tests/hf/adamw_steps.py IN.safetensors SETTINGS.json OUT.safetensors

IN holds p.<i> (initial parameters) and g.<t>.<i> (the gradient of parameter i at step t); SETTINGS: lr,
weight_decay, max_grad_norm (0: no clipping), warmup_steps, steps, no_decay (indices). Two parameter groups
as Trainer builds them (decay / no decay), betas 0.9/0.999, eps 1e-8, float32. OUT gets p.<i> after the
last step; stdout one JSON line: the lr each step used and the gradient norm clip_grad_norm_ returned."""
import json, sys

import torch
from safetensors.torch import load_file, save_file
from transformers import get_linear_schedule_with_warmup

tensors = load_file(sys.argv[1])
s = json.load(open(sys.argv[2]))
n = len([k for k in tensors if k.startswith("p.")])
params = [torch.nn.Parameter(tensors[f"p.{i}"].clone()) for i in range(n)]
groups = [
    {"params": [p for i, p in enumerate(params) if i not in s["no_decay"]], "weight_decay": s["weight_decay"]},
    {"params": [p for i, p in enumerate(params) if i in s["no_decay"]], "weight_decay": 0.0},
]
opt = torch.optim.AdamW(groups, lr=s["lr"], betas=(0.9, 0.999), eps=1e-8)
sched = get_linear_schedule_with_warmup(opt, s["warmup_steps"], s["steps"])
lrs, norms = [], []
for t in range(s["steps"]):
    for i, p in enumerate(params):
        p.grad = tensors[f"g.{t}.{i}"].clone()
    norm = torch.nn.utils.clip_grad_norm_(params, s["max_grad_norm"]) if s["max_grad_norm"] > 0 else \
        torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params))
    lrs.append(opt.param_groups[0]["lr"])
    norms.append(float(norm))
    opt.step()
    sched.step()
save_file({f"p.{i}": p.detach().contiguous() for i, p in enumerate(params)}, sys.argv[3])
print(json.dumps({"lrs": lrs, "norms": norms}))
