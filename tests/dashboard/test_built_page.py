"""The committed page (tradeloop/dashboard/assets/dashboard.html) was built from the frontend
sources as they are: ``npm run build`` records a digest of them in the page, recomputed here the
way frontend/build.mjs computes it, so no Node or network is needed to check it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tradeloop.dashboard.page import dashboard_html

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"


def sources_digest(root: Path) -> str:
    """sha256 over "path NUL sha256(content) LF" for build.mjs, package.json, package-lock.json
    and every file in src/ (sorted by name)."""
    paths = ["build.mjs", "package.json", "package-lock.json"]
    paths += [f"src/{p.name}" for p in sorted((root / "src").iterdir(), key=lambda p: p.name)]
    digest = hashlib.sha256()
    for path in paths:
        content = hashlib.sha256((root / path).read_bytes()).hexdigest()
        digest.update(f"{path}\0{content}\n".encode())
    return digest.hexdigest()


def test_the_committed_page_was_built_from_the_current_frontend_sources() -> None:
    recorded = re.search(
        r'<meta name="tradeloop-sources" content="([0-9a-f]{64})">', dashboard_html()
    )
    assert recorded, "the page records no source digest: rebuild it (cd frontend && npm run build)"
    assert recorded.group(1) == sources_digest(FRONTEND), (
        "frontend/ changed since dashboard.html was built: cd frontend && npm ci && npm run build"
    )


def test_the_digest_changes_when_a_source_changes(tmp_path: Path) -> None:
    copy = tmp_path / "frontend"
    (copy / "src").mkdir(parents=True)
    for path in ["build.mjs", "package.json", "package-lock.json"]:
        (copy / path).write_bytes((FRONTEND / path).read_bytes())
    for path in (FRONTEND / "src").iterdir():
        (copy / "src" / path.name).write_bytes(path.read_bytes())
    before = sources_digest(copy)
    assert before == sources_digest(FRONTEND)
    (copy / "src" / "style.css").write_text((FRONTEND / "src" / "style.css").read_text() + "\n")
    assert sources_digest(copy) != before
