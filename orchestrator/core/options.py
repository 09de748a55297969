"""Task options: what an author may ask of one task (decorator keywords, the spec's ``options``).

    @task(timeout_s=30, retries=2, retry_backoff_s=0.5, retry_on=(ConnectionError,))
    def fetch(url): ...

    {"id": "f", "function": "m.fetch", "args": [...],
     "options": {"timeout_s": 30, "retries": 2, "retry_backoff_s": 0.5, "retry_on": ["ConnectionError"]}}

* ``timeout_s`` — the task's function is stopped (really: its process is
  interrupted, killed if it will not stop) after this long, and the task fails
  naming the limit. A run may set a default for its tasks, and
  ``SLAFLOW_TASK_TIMEOUT_S`` one for every run (an hour unless set). A user
  may ask for at most ``SLAFLOW_QUOTA_MAX_TIMEOUT_S`` (``services.quotas``).
* ``retries`` — attempts after the first when the function raises
  (``retry_on``: only for these exception classes, by name, e.g.
  ``"ConnectionError"`` or ``"requests.exceptions.Timeout"``; any exception when
  empty); before attempt k+1 the worker waits ``retry_backoff_s × 2^(k-1)`` s
  (at most 60). Every failed attempt is recorded with its error.
* ``optimizations`` — optimizations the author forces on the task (kept by every planner).
* ``map`` — the node is a dynamic fan-out over that upstream's list
  (``orchestrator.core.mapping``; set by ``task.map(items)`` or a spec's ``"map"``).
* ``streaming`` — the task takes the output of a generator task as an iterator
  over its items, starting while the generator still runs (``store.streams``;
  from any other task it gets the plain value).

``check`` validates options at submission (naming the node and the option);
``TaskOptions.of`` reads them back on the worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

KNOWN = ("optimizations", "timeout_s", "retries", "retry_backoff_s", "retry_on", "streaming", "map")
# Optimizations a task may force (each a module of ``orchestrator.optimizations``; a test keeps them equal).
OPTIMIZATIONS = ("preload", "prewarm", "taskdup", "clustering", "streaming")
MAX_RETRIES = 100
MAX_BACKOFF_S = 60.0


class OptionError(ValueError):
    pass


def exception_name(cls: type) -> str:
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _positive(value: Any, name: str, where: str, *, allow_zero: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        bound = "≥ 0" if allow_zero else "> 0"
        raise OptionError(f"{where}: option {name!r} must be a number {bound}, got {value!r}")
    return float(value)


def check(options: dict[str, Any], where: str) -> dict[str, Any]:
    """The options, normalised (exception classes → names); raises OptionError naming the problem."""
    unknown = sorted(set(options) - set(KNOWN))
    if unknown:
        raise OptionError(f"{where}: unknown option(s) {', '.join(map(repr, unknown))} (known: {', '.join(KNOWN)})")
    out = dict(options)
    if "timeout_s" in out and out["timeout_s"] is not None:
        out["timeout_s"] = _positive(out["timeout_s"], "timeout_s", where)
    if "retries" in out:
        r = out["retries"]
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= MAX_RETRIES:
            raise OptionError(f"{where}: option 'retries' must be a whole number 0..{MAX_RETRIES}, got {r!r}")
    if "retry_backoff_s" in out:
        out["retry_backoff_s"] = min(
            MAX_BACKOFF_S, _positive(out["retry_backoff_s"], "retry_backoff_s", where, allow_zero=True)
        )
    if "retry_on" in out:
        names = []
        items = out["retry_on"]
        if isinstance(items, (str, type)):
            items = [items]
        if not isinstance(items, (list, tuple)):
            raise OptionError(f"{where}: option 'retry_on' must list exception classes or their names")
        for item in items:
            if isinstance(item, type) and issubclass(item, BaseException):
                names.append(exception_name(item))
            elif isinstance(item, str) and item.strip():
                names.append(item.strip())
            else:
                raise OptionError(f"{where}: option 'retry_on' holds {item!r}, not an exception class or name")
        out["retry_on"] = names
    if "map" in out and not (isinstance(out["map"], str) and out["map"]):
        raise OptionError(f"{where}: option 'map' must name the upstream task mapped over, got {out['map']!r}")
    if "streaming" in out and not isinstance(out["streaming"], bool):
        raise OptionError(f"{where}: option 'streaming' must be true or false, got {out['streaming']!r}")
    if "optimizations" in out:
        names = out["optimizations"]
        if not (isinstance(names, (list, tuple)) and all(isinstance(o, str) for o in names)):
            raise OptionError(f"{where}: option 'optimizations' must list optimization names")
        unknown = [n for n in names if n not in OPTIMIZATIONS]
        if unknown:
            raise OptionError(
                f"{where}: unknown optimization(s) {', '.join(map(repr, unknown))} (known: {', '.join(OPTIMIZATIONS)})"
            )
        out["optimizations"] = list(names)
    return out


@dataclass(frozen=True)
class TaskOptions:
    timeout_s: float | None = None
    retries: int = 0
    retry_backoff_s: float = 0.0
    retry_on: tuple[str, ...] = ()
    streaming: bool = False

    @classmethod
    def of(cls, options: dict[str, Any], default_timeout_s: float | None = None) -> "TaskOptions":
        return cls(
            timeout_s=options.get("timeout_s") or default_timeout_s,
            retries=int(options.get("retries") or 0),
            retry_backoff_s=float(options.get("retry_backoff_s") or 0.0),
            retry_on=tuple(options.get("retry_on") or ()),
            streaming=bool(options.get("streaming")),
        )

    def retries_on(self, error: BaseException) -> bool:
        """Whether ``error`` is one to retry (any exception when ``retry_on`` is empty)."""
        if not isinstance(error, Exception):
            return False
        if not self.retry_on:
            return True
        names = {n for cls in type(error).__mro__ for n in (cls.__name__, exception_name(cls))}
        return any(name in names for name in self.retry_on)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        return min(MAX_BACKOFF_S, self.retry_backoff_s * 2 ** (attempt - 1)) if self.retry_backoff_s else 0.0


def attempts_text(errors: Iterable[dict]) -> str:
    return "; ".join(f"attempt {e['attempt']}: {e['error']}" for e in errors)
