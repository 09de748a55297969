"""Formatting filters for the web UI templates ("—" for missing values)."""

from __future__ import annotations

from django import template

register = template.Library()
DASH = "—"


@register.filter
def secs(value, digits: int = 3) -> str:
    if value is None or value == "":
        return DASH
    return f"{float(value):.{int(digits)}f}"


@register.filter
def secs_u(value, digits: int = 3) -> str:
    """Seconds with their unit, or a bare dash when missing."""
    return DASH if value is None or value == "" else f"{float(value):.{int(digits)}f} s"


@register.filter
def pct(value, digits: int = 0) -> str:
    """A % difference with its sign: +12 %."""
    if value is None:
        return DASH
    return f"{float(value):+.{int(digits)}f} %"


@register.filter
def share(value, digits: int = 0) -> str:
    """A fraction 0..1 as a percentage."""
    if value is None:
        return DASH
    return f"{100 * float(value):.{int(digits)}f} %"


@register.filter
def nbytes(value) -> str:
    if value is None or value == "":
        return DASH
    n = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return DASH


@register.filter
def cell(value, unit: str) -> str:
    return nbytes(value) if unit == "B" else secs(value, 4)


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
