"""The README's Python snippet runs as written (with the data folder filled in)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [snippet] = [b for b in blocks if "create_runtime" in b]
    return snippet


def test_the_readme_snippet_runs_one_cycle_and_a_short_lifecycle(shared_data: Path, capsys) -> None:
    code = python_snippet().replace('"path/to/csv-dir"', repr(str(shared_data)))
    code = code.replace("max_cycles=100", "max_cycles=5")
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert re.match(r"c_[0-9a-f]{32} 10000\.0", out)
