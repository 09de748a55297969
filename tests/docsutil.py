"""Reading the documentation for its tests: pages, fenced blocks and the markers before them.

A fenced block may be preceded by an HTML comment that says what the tests do with it::

    <!-- runnable -->            run by bash against the test cluster (tests/integration/test_docs_commands.py)
    <!-- file: NAME -->          the tutorial's file NAME
    <!-- tutorial: STEP -->      a step of the tutorial's own workflow, run on a cluster of its own
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

BASE = Path(settings.BASE_DIR)
DOCS = BASE / "docs"
_FENCE = re.compile(r"(?:<!--\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)\n```", re.S)


@dataclass(frozen=True)
class Block:
    page: str
    lang: str
    body: str
    marker: str


def pages() -> dict[str, str]:
    """Every documentation page and the README, by path relative to the checkout."""
    out = {str(p.relative_to(BASE)): p.read_text() for p in sorted(DOCS.rglob("*.md"))}
    out["README.md"] = (BASE / "README.md").read_text()
    return out


def blocks(text: str, page: str = "") -> list[Block]:
    return [Block(page, m["lang"], m["body"], (m["marker"] or "").strip()) for m in _FENCE.finditer(text)]


def all_blocks() -> list[Block]:
    return [b for page, text in pages().items() for b in blocks(text, page)]


def marked(marker: str) -> list[Block]:
    return [b for b in all_blocks() if b.marker == marker]
