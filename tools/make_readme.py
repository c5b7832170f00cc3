#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb (markdown cells verbatim, visible code cells as fenced Python).

nbdev's own `nbdev-readme` needs Quarto; this does the same job for this project offline.
`--check` exits 1 if README.md is out of date."""
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
HEADER = "<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n"


def render() -> str:
    nb = nbformat.read(ROOT / "nbs" / "index.ipynb", as_version=4)
    parts = []
    for c in nb.cells:
        src = c.source.strip()
        if not src:
            continue
        if c.cell_type == "markdown":
            parts.append(src)
        elif c.cell_type == "code" and not any(l.strip() in ("#| hide", "#|hide") for l in src.splitlines()):
            code = "\n".join(l for l in src.splitlines() if not l.startswith("#|"))
            parts.append(f"```python\n{code}\n```")
    return HEADER + "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    text = render()
    readme = ROOT / "README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            print("README.md is out of date: run python tools/make_readme.py")
            sys.exit(1)
        sys.exit(0)
    readme.write_text(text)
    print(f"wrote {readme}")
