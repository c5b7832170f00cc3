#!/usr/bin/env bash
# README command 2: install everything and run every test (this is what .ci/run calls).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
# Everything the notebooks and tests write to temporary folders goes to one per-run folder, removed at the end: a CI
# machine (and a developer's /tmp) must not fill up run after run (the notebooks' tempfile.mkdtemp() folders, pytest's
# tmp_path, papermill/Chromium scratch add up to several GB per run).
export TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/fusion_papers_test.XXXXXX")"
trap 'echo "== temporary files of this run: $(du -sh "$TMPDIR" 2>/dev/null | cut -f1) (removed)"; rm -rf "$TMPDIR"' EXIT
echo "== disk: $(df -h . | tail -1 | awk '{print $4 " free of " $2}')"
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
python -m pytest tests -p no:cacheprovider -n 2 --dist loadfile --durations=25
echo "== done in $(( $(date +%s) - t0 )) s"
