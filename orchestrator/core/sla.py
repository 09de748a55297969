"""Service-level agreements: 'average' or a percentile 'pN' of completion time."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PCT = re.compile(r"^p(\d{1,2})$")


class SLAError(ValueError):
    pass


@dataclass(frozen=True)
class SLA:
    percentile: int | None  # None means the mean

    @property
    def is_average(self) -> bool:
        return self.percentile is None

    @property
    def sort_key(self) -> int:
        """``average`` first, then percentiles ascending."""
        return 0 if self.percentile is None else self.percentile

    @property
    def promised_share(self) -> float:
        """The share of runs a calibrated promise at this SLA should hold (``average``: a half)."""
        return 0.5 if self.percentile is None else self.percentile / 100

    def __str__(self) -> str:
        return "average" if self.percentile is None else f"p{self.percentile}"


def parse(text: str) -> SLA:
    if not isinstance(text, str):
        raise SLAError(f"SLA must be text like 'average' or 'p90', got {text!r}")
    value = text.strip().lower()
    if value in ("average", "avg", "mean"):
        return SLA(None)
    match = _PCT.match(value)
    if match and 1 <= int(match.group(1)) <= 99:
        return SLA(int(match.group(1)))
    raise SLAError(f"SLA {text!r} is not 'average' or a percentile 'p1'..'p99'")
