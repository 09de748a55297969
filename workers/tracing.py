"""Optional OpenTelemetry tracing of runs: one trace per run, a span per branch, task and task stage.

Off unless ``SLAFLOW_OTEL`` is true (and the ``otel`` extra installed). A run is many Celery messages
on many processes and hosts; its trace ties them together::

    slaflow.run            (the submission: validate, plan, dispatch the root branches)
    └─ slaflow.branch      (a branch message taken up by a pool process: worker, configuration, cold/warm)
       └─ slaflow.task     (one task of the branch: node, function, status)
          ├─ inputs  ├─ execute  ├─ upload  └─ dispatch
                                                └─ slaflow.branch  (a branch its completion sent) …

The context travels with the work: ``workers.canvas`` puts the W3C ``traceparent`` of the
current span — the run span at submission, a task's ``dispatch`` span in a worker — in every branch
message's slaflow header, and the worker that takes the message starts its branch span under it
(``incoming``). A branch that arrives without one (handed to a pre-warmed process, or re-sent by a
reaper after its worker died) hangs under the run span, whose context the run's metadata in Redis
carries (``RunContext.trace``): every span of a run is in the run's trace.

The spans are made by a runtime hook (``workers.tracing_hook.Tracing``, first in the chain so it wraps
the others). Exporters, per process (a pool process sets up its own after the fork): OTLP over HTTP
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (batched; flushed when the pool process exits), and JSON
lines appended to ``SLAFLOW_OTEL_FILE`` (one ``span.to_json()`` per line, written as each span ends:
for debugging and the tests). ``OTEL_SERVICE_NAME`` names the service (``slaflow``).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
from typing import Any, Iterator

from django.conf import settings

TRACEPARENT = "traceparent"

# The span whose context a branch message sent now carries (``carrier``).
_current: contextvars.ContextVar[Any] = contextvars.ContextVar("slaflow_trace_current", default=None)
# The trace context the branch message being run arrived with (``incoming``).
_incoming: contextvars.ContextVar[dict | None] = contextvars.ContextVar("slaflow_trace_incoming", default=None)

_setup: dict = {"pid": None, "provider": None}
_setup_lock = threading.Lock()


def enabled() -> bool:
    return bool(getattr(settings, "SLAFLOW_OTEL", False))


def provider():
    """This process's tracer provider with the configured exporters (made once per process)."""
    with _setup_lock:
        if _setup["pid"] != os.getpid():
            _setup["provider"], _setup["pid"] = _new_provider(), os.getpid()
        return _setup["provider"]


def _new_provider():
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as exc:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"SLAFLOW_OTEL is on but OpenTelemetry is not installed ({exc}): pip install 'slaflow[otel]'"
        ) from None

    tp = TracerProvider(resource=Resource.create({"service.name": settings.SLAFLOW_OTEL_SERVICE}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if settings.SLAFLOW_OTEL_FILE:
        tp.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(settings.SLAFLOW_OTEL_FILE)))
    return tp


def reset() -> None:
    """Forget this process's provider: the next span sets one up from the settings as they are now."""
    with _setup_lock:
        if _setup["provider"] is not None and _setup["pid"] == os.getpid():
            _setup["provider"].shutdown()
        _setup["provider"], _setup["pid"] = None, None


def use_exporter(exporter) -> None:
    """Also send this process's spans to ``exporter`` as they end (e.g. the SDK's InMemorySpanExporter)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider().add_span_processor(SimpleSpanProcessor(exporter))


def tracer():
    return provider().get_tracer("slaflow")


def flush() -> None:
    """Send what the batch exporters hold (a pool process about to exit)."""
    if _setup["provider"] is not None and _setup["pid"] == os.getpid():
        _setup["provider"].force_flush()


def start_span(name: str, *, parent=None, carrier: dict | None = None, attributes: dict | None = None):
    """A span under ``parent`` (a span), else under the context in ``carrier`` (``{"traceparent": …}``),
    else a new trace."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if parent is not None:
        context = trace.set_span_in_context(parent)
    elif carrier:
        context = TraceContextTextMapPropagator().extract(carrier)
    else:
        context = None
    return tracer().start_span(
        name, context=context, attributes={k: v for k, v in (attributes or {}).items() if v is not None}
    )


def carrier_of(span) -> dict:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    out: dict = {}
    TraceContextTextMapPropagator().inject(out, context=trace.set_span_in_context(span))
    return out


def carrier() -> dict | None:
    """The trace context a branch message sent now carries: the current span's (None when off)."""
    span = _current.get()
    return carrier_of(span) if span is not None else None


def set_current(span) -> None:
    _current.set(span)


@contextlib.contextmanager
def run_span(run_id: int, **attributes) -> Iterator[dict | None]:
    """Around a run's submission: its trace's root span, current while the root branches are stamped.
    Yields the span's carrier (for the run's metadata), or None when tracing is off."""
    if not enabled():
        yield None
        return
    span = start_span(
        "slaflow.run", attributes={"slaflow.run_id": run_id, **{f"slaflow.{k}": v for k, v in attributes.items()}}
    )
    token = _current.set(span)
    try:
        yield carrier_of(span)
    finally:
        _current.reset(token)
        span.end()


@contextlib.contextmanager
def incoming(trace_carrier: dict | None) -> Iterator[None]:
    """The trace context of the branch message being run (from its slaflow header)."""
    token = _incoming.set(trace_carrier or None)
    try:
        yield
    finally:
        _incoming.reset(token)


def incoming_carrier() -> dict | None:
    return _incoming.get()


class JsonLinesExporter:
    """Appends each span as one JSON line (``ReadableSpan.to_json``) to a file: one ``write`` per span on a
    file opened for appending, so processes of one host can share it."""

    def __init__(self, path: str):
        self.path = path

    def export(self, spans) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = "".join(json.dumps(json.loads(span.to_json())) + "\n" for span in spans).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, lines)
        finally:
            os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
