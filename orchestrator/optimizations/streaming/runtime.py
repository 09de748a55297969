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

Recorded: ``streamed`` {bytes, chunks} on the producer; input entries with
``via: "stream"`` on consumers.
"""
from __future__ import annotations

import time

from orchestrator.core import codec
from orchestrator.optimizations.streaming.rule import NAME
from store import flags, streams
from workers.hooks import Hook, Input, InputFailed


class Streaming(Hook):
    name = NAME

    def __init__(self, ctx):
        self.ctx = ctx

    def stream_output(self, branch, task):
        spec = self.ctx.annotations_of(task.node_id).get(NAME)
        if not spec or task.data is None or len(task.data) < int(spec["min_bytes"]):
            return None
        return int(spec["chunk_bytes"])

    def fetch_input(self, branch, task, upstream: str):
        if not self.ctx.annotations_of(upstream).get(NAME) or \
                streams.streamed(branch.run_id, [upstream]).get(upstream) != streams.BYTES:
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


def hooks(ctx) -> list[Hook]:
    return [Streaming(ctx)]
