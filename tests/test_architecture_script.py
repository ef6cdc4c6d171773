"""``scripts/architecture`` reports the figures of issue 13 for any checkout: measured here on a
tiny tradeloop tree written for the test, whose figures are counted by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "architecture"

TREE = {
    "tradeloop/__init__.py": "",
    "tradeloop/low/__init__.py": "",
    "tradeloop/low/a/__init__.py": "",
    # 4 lines; imports its sibling b inside a function: a circle inside the room `low`
    "tradeloop/low/a/x.py": "def f():\n    from tradeloop.low.b import y\n\n    return y\n",
    "tradeloop/low/b/__init__.py": "",
    "tradeloop/low/b/y.py": "from ..a import x\n\n\nclass Small:\n    pass\n",
    "tradeloop/low/hook.py": "from tradeloop.high import app\n",
    "tradeloop/high/__init__.py": "",
    "tradeloop/high/app.py": (
        "from tradeloop.low import hook\n"
        "\n"
        "\n"
        "@decorated\n"
        "class Big:\n"
        "    def start(self):\n"
        "        # kept lazy: one reason for the run of imports below\n"
        "        import json\n"
        "        import csv\n"
        "\n"
        "        value = 1\n"
        "        import os\n"
        "        return json, csv, os, value\n"
        "\n"
        "\n"
        "def load():\n"
        "    import sys  # here: a reason\n"
        "\n"
        "    return sys\n"
    ),
}


def run_on(root: Path) -> str:
    for name, text in TREE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_reports_largest_class_module_lazy_imports_and_circles_of_a_checkout(tmp_path):
    lines = run_on(tmp_path).splitlines()

    assert lines[0] == "largest class: tradeloop.high.app:Big (10 lines)"
    assert lines[1] == "largest module: tradeloop/high/app.py (19 lines)"
    assert lines[2] == (
        "function-level imports: 2 without a reason in 2 files; "
        "3 lazy with a reason comment in 1 files"
    )
    assert lines[3] == "import circles between subpackages: 2"
    circles = [line.strip() for line in lines[4:] if "->" in line]
    assert circles == ["high -> low -> high", "low.a -> low.b -> low.a"]
