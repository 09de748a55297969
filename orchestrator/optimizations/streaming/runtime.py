"""Output streaming's runtime: a big output that must travel is read by its consumers while it is written.

The rule (``streaming.rule``) marks the tasks with a consumer outside their
branch. At run time (``store.streams`` holds the protocol), for an output of
at least ``min_bytes``: instead of attaching the output to the counters'
call, the producer opens a stream, records the task done — its consumers are
dispatched at once — and then writes the output in chunks of
``chunk_bytes``; a consumer's ``fetch_input`` reads the chunks as they arrive
into one buffer and checks the CRC at the end, so its input is ready about
when the upload ends instead of after upload, dispatch and download. A
streamed input comes before a preloaded one (docs/concepts/optimizations.md
precedence: PreLoad would fetch it again, whole, once written).

The hook's three stages: ``stream_output`` (open the stream instead of
attaching the output), ``write_stream`` (write the chunks once the consumers
are dispatched; a stream that breaks falls back to the output stored whole,
which readers then take) and ``fetch_input`` (a consumer reads it).

Recorded: ``streamed`` {bytes, chunks} on the producer; input entries with
``via: "stream"`` on consumers.
"""

from __future__ import annotations

import time
import traceback

from orchestrator.core import codec
from orchestrator.optimizations.streaming.rule import NAME
from store import dataplane, flags, streams
from workers.hooks import Hook, Input, InputFailed, OutputFailed


class Streaming(Hook):
    name = NAME

    def __init__(self, ctx):
        self.ctx = ctx

    def stream_output(self, branch, task):
        """Streams a big output of an annotated task: opens its stream (the counters' call then releases
        its consumers) and answers the chunk size."""
        spec = self.ctx.annotations_of(task.node_id).get(NAME)
        if not spec or task.data is None or len(task.data) < int(spec["min_bytes"]):
            return None
        chunk = int(spec["chunk_bytes"])
        streams.open_stream(branch.run_id, task.node_id, _attempt(branch), len(task.data), chunk)
        return chunk

    def write_stream(self, branch, task):
        """Writes a streamed output's chunks (its consumers read them as they come); the task ends once
        the last one is written. A stream that breaks falls back to the output stored whole."""
        nid, rec = task.node_id, task.record
        t0 = time.perf_counter()
        try:
            chunks = streams.write(branch.run_id, nid, _attempt(branch), bytes(task.data), task.stream_chunk)
            rec.optimizations["streamed"] = {"bytes": len(task.data), "chunks": chunks}
        except Exception as exc:  # the stream broke: fall back to storing the output whole
            why = f"{type(exc).__name__}: {exc}"
            try:
                dataplane.put_output(branch.run_id, nid, task.data)
            except Exception as again:  # nor can it be stored: the consumers hear it, never see partial data
                failed = OutputFailed(
                    f"could not stream nor store the output of {nid!r}: {why}; then {type(again).__name__}: {again}",
                    traceback.format_exc(),
                )
                try:
                    streams.fail(branch.run_id, nid, _attempt(branch), why)
                finally:
                    raise failed from None
            streams.fail(branch.run_id, nid, _attempt(branch), f"{streams.STORED_WHOLE} ({why})")
            rec.optimizations["stream_fallback"] = why
        rec.upload_s, rec.uploaded = time.perf_counter() - t0, True
        rec.finished_at = time.time()
        return True

    def fetch_input(self, branch, task, upstream: str):
        if (
            not self.ctx.annotations_of(upstream).get(NAME)
            or streams.streamed(branch.run_id, [upstream]).get(upstream) != streams.BYTES
        ):
            return None
        t0 = time.perf_counter()
        try:
            buf = streams.read(branch.run_id, upstream, stopped=lambda: flags.announced_over(branch.run_id))
        except streams.StreamError as exc:
            if streams.STORED_WHOLE not in str(exc):
                raise InputFailed(str(exc)) from None
            return None  # the producer fell back to storing it whole: the data plane fetches that copy
        size = len(buf)
        return Input(value=codec.loads_buffer(buf), size=size, download_s=time.perf_counter() - t0, how="stream")


def _attempt(branch) -> str:
    """The stream's attempt id: a redelivered producer streams again as a new attempt."""
    return f"{branch.token}:{branch.delivery}"


def hooks(ctx) -> list[Hook]:
    return [Streaming(ctx)]
