"""Output streams: a big output written in chunks that its consumers read while it is written.

A producer that streams (``optimizations.streaming``) *opens* the stream, then
records the task done in the counters — so its consumers are released and
dispatched at once — and only then writes the chunks. A consumer reads them
as they arrive into one buffer of the announced size (a ``.npy`` array is
then used in place: no decode copy after the last chunk).

``keys.stream(run, node)`` is a Redis stream; every entry carries the
producer's attempt ``a``:

    {a, reset, len}      an attempt begins: readers drop what earlier attempts sent
    {a, c}               the next chunk
    {a, end, crc}        done: the CRC-32 of every byte, which the reader checks
    {a, err}             the producer failed: the reader raises ``StreamError``

So a consumer never takes partial data for the whole: it gets the bytes the
checksum vouches for, or a clear error. A producer whose process dies
mid-stream is redelivered (its lease lapses) and streams again as a new
attempt; readers wait for it up to ``SLAFLOW_STREAM_STALL_S`` without a new
entry. ``keys.streams(run)`` lists the streamed outputs and their attempts.
"""
from __future__ import annotations

import json
import time
import zlib
from typing import Callable

from django.conf import settings

from workers import keys
from workers.redis_client import get_redis


class StreamError(RuntimeError):
    """A streamed input that cannot be read whole: its producer failed, stalled, or the bytes differ."""


def _ttl() -> int:
    return int(settings.SLAFLOW_RUN_TTL_S)


def open_stream(run_id: int, node_id: str, attempt: str, size: int, chunk: int) -> None:
    key = keys.stream(run_id, node_id)
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(keys.streams(run_id), node_id, json.dumps({"attempt": attempt, "len": size, "chunk": chunk}))
    pipe.xadd(key, {"a": attempt, "reset": 1, "len": size})
    pipe.sadd(keys.registry(run_id), key)
    pipe.expire(keys.streams(run_id), _ttl())
    pipe.expire(key, _ttl())
    pipe.execute()


def write(run_id: int, node_id: str, attempt: str, data: bytes, chunk: int) -> int:
    """Every chunk, then the end mark with the checksum; returns the number of chunks."""
    client, key = get_redis(), keys.stream(run_id, node_id)
    view, crc, n = memoryview(data), 0, 0
    for off in range(0, len(data), chunk):
        piece = view[off:off + chunk]
        crc = zlib.crc32(piece, crc)
        client.xadd(key, {"a": attempt, "c": piece})  # a view of the bytes: no copy on our side
        n += 1
    client.xadd(key, {"a": attempt, "end": n, "crc": crc})
    return n


def fail(run_id: int, node_id: str, attempt: str, error: str) -> None:
    get_redis().xadd(keys.stream(run_id, node_id), {"a": attempt, "err": error[:2000]})


def streamed(run_id: int, node_ids: list[str]) -> set[str]:
    """Which of these outputs are streamed (one round trip)."""
    if not node_ids:
        return set()
    pipe = get_redis().pipeline(transaction=False)
    for nid in node_ids:
        pipe.hexists(keys.streams(run_id), nid)
    return {nid for nid, yes in zip(node_ids, pipe.execute()) if yes}


def complete(run_id: int, node_id: str) -> bool:
    """Whether the current attempt's stream ended well (a redelivered producer may then reuse it)."""
    raw = get_redis().hget(keys.streams(run_id), node_id)
    if raw is None:
        return False
    attempt = json.loads(raw)["attempt"].encode()
    last = get_redis().xrevrange(keys.stream(run_id, node_id), count=1)
    return bool(last) and last[0][1].get(b"a") == attempt and b"end" in last[0][1]


def read(run_id: int, node_id: str, *, stopped: Callable[[], bool] = lambda: False,
         stall_s: float | None = None) -> bytearray:
    """The output's bytes, read as they are written; raises ``StreamError`` (producer failed, stalled,
    checksum mismatch) and stops waiting when ``stopped()`` (the run is over)."""
    stall_s = float(settings.SLAFLOW_STREAM_STALL_S if stall_s is None else stall_s)
    client, key = get_redis(), keys.stream(run_id, node_id)
    last, attempt, buf, pos, crc = "0-0", None, bytearray(), 0, 0
    heard = time.monotonic()
    while True:
        got = client.xread({key: last}, count=8, block=500)
        if not got:
            if stopped():
                raise StreamError(f"the run ended while {node_id!r} was streaming")
            if time.monotonic() - heard > stall_s:
                raise StreamError(f"the stream of {node_id!r} stalled: nothing for {stall_s:.0f} s")
            continue
        heard = time.monotonic()
        for entry_id, fields in got[0][1]:
            last = entry_id
            if b"reset" in fields:
                attempt, buf, pos, crc = fields[b"a"], bytearray(int(fields[b"len"])), 0, 0
                continue
            if attempt is None or fields.get(b"a") != attempt:
                continue  # an earlier attempt's leftovers
            if b"c" in fields:
                piece = fields[b"c"]
                if pos + len(piece) > len(buf):
                    raise StreamError(f"the stream of {node_id!r} sent more than the {len(buf)} bytes it announced")
                buf[pos:pos + len(piece)] = piece
                pos += len(piece)
                crc = zlib.crc32(piece, crc)
            elif b"err" in fields:
                raise StreamError(f"the producer of {node_id!r} failed while streaming its output: "
                                  f"{fields[b'err'].decode(errors='replace')}")
            elif b"end" in fields:
                if pos != len(buf) or crc != int(fields[b"crc"]):
                    raise StreamError(f"the stream of {node_id!r} does not check out ({pos} of {len(buf)} bytes, "
                                      f"CRC {crc} ≠ {int(fields[b'crc'])}): not using it")
                return buf
