#!/usr/bin/env bash
# Render the documentation site into _docs/.
#  - where Quarto is installed: `nbdev-docs` (the standard nbdev route) does it all;
#  - offline / without Quarto (this project's CI): nbdev-proc-nbs, then smalldocs (pure Python) renders _proc.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v quarto >/dev/null 2>&1 && [ "${FUSION_PAPERS_DOCS:-}" != smalldocs ]; then
  nbdev-docs
  exit 0
fi
rm -rf _proc _docs
# (nbdev-proc-nbs first tries to install Quarto, which fails harmlessly offline; its real errors still fail the build)
set +e
nbdev-proc-nbs > .proc_nbs.log 2>&1
rc=$?
set -e
grep -v -E "Quarto is not installed|requires root access|sudo: not found|Cancelled. Please download" .proc_nbs.log || true
rm -f .proc_nbs.log
[ $rc -eq 0 ] || { echo "nbdev-proc-nbs failed (exit $rc)"; exit 1; }
[ -d _proc ] || { echo "nbdev-proc-nbs produced no _proc/"; exit 1; }
smalldocs render --quiet _proc
mv _proc/_docs _docs
# KaTeX ships with the site (maths renders offline) and savefig figures become files linked at full resolution
KATEX_DIR=${FUSION_PAPERS_KATEX:-.docs_vendor/node_modules/katex/dist}
if [ ! -f "$KATEX_DIR/katex.min.js" ]; then
  echo "[docs] installing KaTeX ${KATEX_VERSION:-0.16.11} (npm) into .docs_vendor/"
  npm install --no-save --no-audit --no-fund --silent --prefix .docs_vendor "katex@${KATEX_VERSION:-0.16.11}" \
    || { echo "npm install katex failed: the docs need KaTeX to render maths offline (set FUSION_PAPERS_KATEX to a katex dist/ folder)"; exit 1; }
fi
python tools/docs_post.py _docs --katex "$KATEX_DIR"
echo "docs rendered into _docs/ ($(find _docs -name '*.html' | wc -l) pages)"
