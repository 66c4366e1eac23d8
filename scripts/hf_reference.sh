#!/usr/bin/env bash
# Sets up the optional Hugging Face reference: a Python venv with the real transformers stack, which the tests
# compare against (tokenizer ids, checkpoints, exports, Trainer) and the benchmark runs as its PyTorch peer.
# Never part of the product. Reused when it is already complete; a failed install leaves nothing behind and
# exits 1 with one line, and the tests that need it then skip with one message.
#
#   scripts/hf_reference.sh            create or reuse it, print its python and versions
#   HF_REFERENCE_VENV=DIR              where it lives (default ~/.cache/distilbert-webgpu/hf-venv)
#   HF_REFERENCE_PIP_ARGS="..."        extra pip arguments, e.g. on a machine that reaches PyPI:
#                                      --extra-index-url https://download.pytorch.org/whl/cpu
#                                      (the +cpu torch wheel is on PyTorch's index, not on PyPI)
set -uo pipefail
venv=${HF_REFERENCE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/distilbert-webgpu/hf-venv}
# The versions the tests were written against (tokenizers, safetensors and accelerate: what transformers pulls).
packages=(torch==2.13.0+cpu transformers==5.18.0 tokenizers safetensors accelerate)
marker="$venv/.complete"
want="${packages[*]} ${HF_REFERENCE_PIP_ARGS:-}"

probe() {
  "$venv/bin/python" - <<'EOF'
import importlib, platform
mods = ["torch", "transformers", "tokenizers", "safetensors", "accelerate"]
print(" ".join(["python " + platform.python_version()] + [m + " " + importlib.import_module(m).__version__ for m in mods]))
EOF
}

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && versions=$(probe 2>/dev/null); then
  echo "HF reference: reusing $venv ($versions)"
  exit 0
fi

py=$(command -v python3 || true)
if [ -z "$py" ]; then
  echo "HF reference: not installed (no python3 on PATH)" >&2
  exit 1
fi
echo "HF reference: installing ${packages[*]} into $venv ..." >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
log=$(mktemp)
# shellcheck disable=SC2086 # HF_REFERENCE_PIP_ARGS is a list of arguments
if "$py" -m venv "$venv" >"$log" 2>&1 &&
  "$venv/bin/python" -m pip install --retries 0 --disable-pip-version-check -q ${HF_REFERENCE_PIP_ARGS:-} \
    "${packages[@]}" >>"$log" 2>&1 && versions=$(probe 2>>"$log"); then
  echo "$want" >"$marker"
  rm -f "$log"
  echo "HF reference: installed $venv ($versions)"
  exit 0
fi
echo "HF reference: not installed ($(grep -E 'ERROR|Error|error' "$log" | tail -n1 | cut -c1-200))" >&2
rm -rf "$venv" "$log"
exit 1
