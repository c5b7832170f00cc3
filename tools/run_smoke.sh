#!/usr/bin/env bash
# README command 1: install, then reproduce every existing chapter in its smoke profile into results/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
. .venv/bin/activate
export FUSION_PAPERS_DATA=${FUSION_PAPERS_DATA:-$(cd .. && pwd)/shared/data}
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false HF_HUB_OFFLINE=1 MPLBACKEND=Agg
fusion-papers reproduce --paper all --profile smoke --out "${1:-results}"
