#!/usr/bin/env bash
# Create (or reuse) the project virtualenv .venv and install everything the tests and the chapters need, at the exact
# versions of requirements.lock (refresh it with tools/lock_env.sh), then the project itself without resolving again.
# Idempotent: a second run only checks. Needs PyPI (or a local wheel cache) and Debian, for Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.fusion_papers_installed
want=$(cat pyproject.toml requirements.lock requirements-yolov5.lock | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # The locked torch is PyPI's CUDA build: the venv takes ~7 GB (torch 1.2, nvidia-* 3.2, triton 0.9). Say so plainly
  # instead of failing half-way through pip with "No space left on device".
  free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
  if [ "${free_kb:-0}" -lt $((8 * 1024 * 1024)) ]; then
    echo "[setup] ERROR: $(pwd) has $((free_kb / 1024)) MB free; installing requirements.lock into .venv needs about 8 GB" \
         "(PyPI's torch is a CUDA build: ~7 GB installed). Free some space, or point PYTHON at an existing environment." >&2
    exit 1
  fi
  echo "[setup] installing requirements.lock (torch, ultralytics, transformers, nbdev, papermill, ... at exact versions) + fusion_papers"
  python -m pip install -q --upgrade pip || echo "[setup] (pip not upgraded: offline)"
  python -m pip install -q --no-cache-dir -r requirements.lock
  # the released YOLOv5 (CAF's faithful detector) without its dependencies (see requirements-yolov5.lock)
  python -m pip install -q --no-cache-dir --no-deps --require-hashes -r requirements-yolov5.lock
  python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi
# Headless Chromium for the rendered-docs check (Debian package; the test fails without it).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian chromium for the docs check"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "[setup] WARNING: chromium is not installed (apt-get install chromium); the docs browser check will fail"
  fi
fi
# KaTeX for the docs (bundled into _docs so maths renders offline; tools/build_docs.sh installs it too when missing)
if [ ! -f .docs_vendor/node_modules/katex/dist/katex.min.js ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "[setup] installing KaTeX (npm) into .docs_vendor/ for the docs"
    npm install --no-save --no-audit --no-fund --silent --prefix .docs_vendor katex@0.16.11 \
      || echo "[setup] WARNING: npm install katex failed; the docs build will retry"
  else
    echo "[setup] WARNING: npm is not installed; the docs build needs it once to fetch KaTeX (apt-get install npm)"
  fi
fi
echo "[setup] ready: $(python -c 'import torch, fusion_papers; print("fusion_papers", fusion_papers.__version__, "torch", torch.__version__)')"
