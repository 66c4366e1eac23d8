#!/usr/bin/env python3
"""transformers' logits, loss and every gradient for model directories (see hf_common.forward_backward).

    python tests/hf/forward_backward.py MODEL_DIR INPUTS.safetensors OUT.safetensors [MODEL_DIR INPUTS OUT ...]

Prints one JSON object: each MODEL_DIR's float32-vs-float64 logit distance."""
import json, sys

from hf_common import forward_backward

args = sys.argv[1:]
if not args or len(args) % 3:
    sys.exit(__doc__)
print(json.dumps({args[i]: forward_backward(*args[i:i + 3]) for i in range(0, len(args), 3)}))
