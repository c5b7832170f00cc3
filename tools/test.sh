#!/usr/bin/env bash
# README command 2: install everything and run every test (this is what .ci/run calls).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
. .venv/bin/activate
source tools/test_env.sh
t0=$(date +%s)
echo "== 1/3 notebooks and library in sync (nbdev-export, nbdev-clean leave the tree unchanged)"
before=$(git status --porcelain; git diff | sha256sum)
nbdev-export
nbdev-clean
after=$(git status --porcelain; git diff | sha256sum)
if [ "$before" != "$after" ]; then
  echo "nbdev-export/nbdev-clean changed the tree: commit the exported library and cleaned notebooks"; git status --short; exit 1
fi
echo "== freshness (warning only): chapters whose saved outputs are older than their code"
python tools/check_fresh.py || echo "WARNING: some chapters' saved outputs are older than their code (see above)"
echo "== 2/3 nbdev-test: the checks inside the shared notebooks (chapters run in step 3: papermill + nbval, at most twice each)"
nbdev-test --n-workers 2 --timing --skip-file-re '^([_.]|0[1-4]_)'
echo "== 3/3 pytest: papermill chapter runs + nbval determinism, rehearsals of the paper path, CLI, install check, metrics references, docs in a browser"
python -m pytest tests -p no:cacheprovider -n 2 --dist loadfile
echo "== done in $(( $(date +%s) - t0 )) s"
