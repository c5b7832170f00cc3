#!/usr/bin/env python
"""House checks on the notebooks that the tools do not enforce themselves.

* A code cell that imports and also does other work breaks the docs build: nbdev's doc processor executes
  every cell containing an import (to make show_doc work), out of order, so such a cell fails there.
  Put imports in a cell of their own (or in an exported cell).
* Every 00*/chapter notebook names its module with `#| default_exp`.
Exit 1 with one line per problem."""
import ast
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
_imp = re.compile(r"^\s*(import\s+\w|from\s+\S+\s+import\s)", re.M)


def problems(nb_path: Path) -> list[str]:
    nb = nbformat.read(nb_path, as_version=4)
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code" or any(re.match(r"#\|\s*(export|exporti|exports)\b", l) for l in c.source.splitlines()):
            continue
        try:
            tree = ast.parse(c.source)
        except SyntaxError:
            continue
        tl_imp = any(isinstance(s, (ast.Import, ast.ImportFrom)) for s in tree.body)
        tl_other = any(isinstance(s, (ast.Expr, ast.Assign)) for s in tree.body)
        if tl_imp and tl_other:  # nbdev's own criterion for its "imports and other code" warning
            out.append(f"{nb_path.name}: cell {i} mixes imports with other code; move the imports to their own cell "
                       f"(python tools/split_imports.py {nb_path.relative_to(ROOT)})")
    if re.match(r"\d\d", nb_path.name) and not any("#| default_exp" in c.source for c in nb.cells):
        out.append(f"{nb_path.name}: no '#| default_exp' cell")
    return out


if __name__ == "__main__":
    probs = [p for f in sorted((ROOT / "nbs").glob("*.ipynb")) for p in problems(f)]
    for p in probs:
        print(p)
    sys.exit(1 if probs else 0)
