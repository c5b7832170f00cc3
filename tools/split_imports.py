#!/usr/bin/env python
"""Move the top-level imports of non-exported code cells into a cell of their own, just above.

nbdev's doc processor executes every cell that contains an import, out of context; a test cell that
imports *and* uses names from earlier unexecuted cells then breaks the docs build. Usage:
python tools/split_imports.py nbs/00a_data.ipynb [...]"""
import ast
import sys

import nbformat


def split(path) -> int:
    nb = nbformat.read(path, as_version=4)
    out, n = [], 0
    for c in nb.cells:
        src = c.source
        if c.cell_type != "code" or any(l.startswith(("#| export", "#|export", "#| hide", "#| default_exp")) for l in src.splitlines()):
            out.append(c); continue
        try:
            tree = ast.parse(src)
        except SyntaxError:
            out.append(c); continue
        imps = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        if not imps or len(imps) == len(tree.body):
            out.append(c); continue
        lines = src.splitlines()
        take = set()
        for s in imps:
            take.update(range(s.lineno - 1, s.end_lineno))
        imp_src = "\n".join(lines[i] for i in sorted(take))
        rest = "\n".join(l for i, l in enumerate(lines) if i not in take).strip("\n")
        new = nbformat.v4.new_code_cell(imp_src)
        out.append(new)
        c.source = rest
        out.append(c)
        n += 1
    nb.cells = out
    nbformat.write(nb, path)
    return n


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(p, split(p))
