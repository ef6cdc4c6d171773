"""The built dashboard page (``assets/dashboard.html``, from ``frontend/``) and its MCP Apps link."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

DASHBOARD_URI = "ui://tradeloop/dashboard"
"""The MCP Apps resource a host renders for the tools linked to it."""

LINKED_META: dict[str, Any] = {
    "ui": {"resourceUri": DASHBOARD_URI},
    "ui/resourceUri": DASHBOARD_URI,
}
"""``_meta`` of a tool whose result the host shows in the dashboard (``ui/resourceUri`` is the
flat key older hosts read)."""

APP_ONLY_META: dict[str, Any] = {"ui": {"resourceUri": DASHBOARD_URI, "visibility": ["app"]}}
"""``_meta`` of a tool only the page calls; Apps hosts keep it from the model."""


@cache
def dashboard_html() -> str:
    """The self-contained page: scripts, styles and the charting library inlined, no network."""
    return files("tradeloop.dashboard").joinpath("assets", "dashboard.html").read_text("utf-8")
