"""The light commands of `fusion-papers` start without importing torch (timings: benchmarks/perf_bench.py)."""
import subprocess
import sys

import pytest

LIGHT = [["--help"], ["--version"], ["data", "list"], ["data", "check", "tno", "/nonexistent/tno"],
         ["metrics", "--help"]]


@pytest.mark.parametrize("argv", LIGHT, ids=lambda a: " ".join(a))
def test_light_command_does_not_import_torch(argv):
    code = ("import sys\nfrom fusion_papers.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('TORCH_IMPORTED', 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    last = [l for l in r.stdout.splitlines() if l.startswith("TORCH_IMPORTED")]
    assert last == ["TORCH_IMPORTED False"], r.stdout[-800:] + r.stderr[-800:]


def test_help_lists_every_subcommand_without_importing_them():
    from fusion_papers.cli import COMMANDS, build_parser
    text = build_parser(["--help"]).format_help()
    for cmd in (*COMMANDS, "reproduce"):
        assert cmd in text


def test_fuse_help_still_complete(capsys):
    from fusion_papers.cli import main
    with pytest.raises(SystemExit):
        main(["fuse", "--help"])
    assert "--weights" in capsys.readouterr().out
