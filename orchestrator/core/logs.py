"""Log lines that say which run and task they are about; JSON lines with ``SLAFLOW_LOG_JSON=1``.

The branch runtime binds the run, the branch (its Celery message id) and the task it is running
(``bound``); every record logged meanwhile on that thread carries them, whichever module logs it:

    2026-12-01 18:02:11,410 WARNING slaflow.runtime [run=42 task=sum-3]: hook 'x' failed in after_inputs

With ``SLAFLOW_LOG_JSON=1`` each record is one JSON object (``ts, level, logger, message, run_id,
task_id, branch``, and ``exc`` with the traceback) for a log collector. Standard library only.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
from typing import Any, Iterator

FIELDS = ("run_id", "task_id", "branch")
# never mutated: bound() sets a new dict
_bound: contextvars.ContextVar[dict] = contextvars.ContextVar("slaflow_log_fields", default={})  # noqa: B039


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Every record logged inside carries these fields (None leaves a field as it was)."""
    token = _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


def current() -> dict:
    return dict(_bound.get())


class ContextFilter(logging.Filter):
    """Puts the bound fields on each record (``record.run_id`` …) and a short ``[run=… task=…]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _bound.get()
        for name in FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, fields.get(name))
        shown = [
            f"{label}={getattr(record, name)}"
            for name, label in (("run_id", "run"), ("task_id", "task"))
            if getattr(record, name) is not None
        ]
        record.context = f" [{' '.join(shown)}]" if shown else ""
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def config(*, json_lines: bool, level: str) -> dict:
    """Django's LOGGING: slaflow's loggers through one console handler, plain or JSON."""
    formatter = (
        {"()": "orchestrator.core.logs.JSONFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "orchestrator.core.logs.ContextFilter"}},
        "formatters": {"slaflow": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "slaflow", "filters": ["context"]}},
        "loggers": {"slaflow": {"handlers": ["console"], "level": level, "propagate": False}},
    }
