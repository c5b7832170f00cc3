"""Helpers of the DDP tests, importable by the torchrun workers (the tests put this folder on their PYTHONPATH).

`audited(fn, *args, **kwargs)` runs `fn` with every file write of this process recorded — `open` in a write mode,
`os.replace` (all project writes go through `core.atomic_path`), `os.mkdir`/`os.makedirs` and `torch.save` to a path —
and returns `{"value": fn's result, "written": [rank 0's paths, rank 1's paths, …]}` (one list in one process)."""
import builtins
import io
import os

import torch

from fusion_papers import distributed


def audited(fn, *args, **kwargs):
    written = []
    real = dict(open=io.open, replace=os.replace, save=torch.save, mkdir=os.mkdir, makedirs=os.makedirs)

    def open_(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+") and isinstance(file, (str, os.PathLike)):
            written.append(str(file))
        return real["open"](file, mode, *a, **k)

    def replace_(src, dst, *a, **k):
        written.append(str(dst))
        return real["replace"](src, dst, *a, **k)

    def save_(obj, f, *a, **k):
        if isinstance(f, (str, os.PathLike)):
            written.append(str(f))
        return real["save"](obj, f, *a, **k)

    def mkdir_(path, *a, **k):
        if not os.path.isdir(path):
            written.append(str(path))
        return real["mkdir"](path, *a, **k)

    builtins.open, io.open, os.replace, torch.save, os.mkdir = open_, open_, replace_, save_, mkdir_
    try:
        value = fn(*args, **kwargs)
    finally:
        builtins.open, io.open, os.replace, torch.save, os.mkdir = (real["open"], real["open"], real["replace"],
                                                                   real["save"], real["mkdir"])
    return {"value": value, "written": distributed.all_gather_object(sorted(set(written)))}
