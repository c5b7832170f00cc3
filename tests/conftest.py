import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FUSION_PAPERS_DATA", str((ROOT / ".." / "shared" / "data").resolve()))
for k, v in {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}.items():
    os.environ.setdefault(k, v)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def bindir() -> Path:
    "Folder of the console scripts of the running interpreter (the project venv)."
    return Path(sys.executable).parent
