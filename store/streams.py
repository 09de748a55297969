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
entry. A producer whose stream breaks under it (a Redis error mid-write)
falls back to storing the output whole, and says so in its ``err`` mark
(``STORED_WHOLE``): readers then take the stored copy. ``keys.streams(run)`` lists the streamed outputs
and their attempts.

**Generator tasks** stream for real: each item a task function yields is
encoded and published as its own entry ``{a, v}`` the moment it is made, and
a consumer declared ``streaming`` gets ``items()``, an iterator over them
that runs while the generator does (its other consumers get the list, once
it is done). The end mark's CRC covers the encoded items; an iterator that
already handed out items when an attempt is replaced raises instead of
yielding them twice.
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any, Callable, Iterable, Iterator

from django.conf import settings

from orchestrator.core import codec
from store import cores, keys
from store.redis_client import get_redis

STORED_WHOLE = "stored whole instead"  # an ``err`` that is a fallback: the output is in the outputs hash


class StreamError(RuntimeError):
    """A streamed input that cannot be read whole: its producer failed, stalled, or the bytes differ."""


def _ttl() -> int:
    return int(settings.SLAFLOW_RUN_TTL_S)


BYTES, ITEMS = "bytes", "items"


def open_stream(run_id: int, node_id: str, attempt: str, size: int, chunk: int, kind: str = BYTES) -> None:
    """Begin an attempt: ``size`` bytes in chunks of ``chunk`` (``BYTES``), or a generator's items (``ITEMS``)."""
    key = keys.stream(run_id, node_id)
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(
        keys.streams(run_id), node_id, json.dumps({"attempt": attempt, "len": size, "chunk": chunk, "kind": kind})
    )
    pipe.xadd(key, {"a": attempt, "reset": 1, "len": size})
    pipe.sadd(keys.registry(run_id), key)
    pipe.expire(keys.streams(run_id), _ttl())
    pipe.expire(key, _ttl())
    pipe.execute()


IN_FLIGHT = 4  # chunks sent per round trip: Redis stores one batch while the next is on its way


def write(run_id: int, node_id: str, attempt: str, data: bytes, chunk: int) -> int:
    """Every chunk, then the end mark with the checksum; returns the number of chunks."""
    key = keys.stream(run_id, node_id)
    pipe = get_redis().pipeline(transaction=False)
    view, crc, n = memoryview(data), 0, 0
    for off in range(0, len(data), chunk):
        piece = view[off : off + chunk]
        crc = zlib.crc32(piece, crc)
        pipe.xadd(key, {"a": attempt, "c": piece})  # a view of the bytes: no copy on our side
        n += 1
        if n % IN_FLIGHT == 0:
            pipe.execute()
    pipe.xadd(key, {"a": attempt, "end": n, "crc": crc})
    pipe.execute()
    return n


def fail(run_id: int, node_id: str, attempt: str, error: str) -> None:
    get_redis().xadd(keys.stream(run_id, node_id), {"a": attempt, "err": error[:2000]})


def publish(run_id: int, node_id: str, attempt: str, items: Iterable[Any]) -> list[Any]:
    """Run a generator's items out one by one, each published as it comes; returns them all. A failure
    of the generator is published (its readers raise) and raised here."""
    client, key = get_redis(), keys.stream(run_id, node_id)
    out: list[Any] = []
    crc = 0
    try:
        for item in items:
            raw = codec.dumps(item, where=f"item {len(out)} of {node_id}")
            crc = zlib.crc32(raw, crc)
            client.xadd(key, {"a": attempt, "v": raw})
            out.append(item)
    except BaseException as exc:  # a time limit or a cancellation too: readers must not wait for more
        fail(run_id, node_id, attempt, f"{type(exc).__name__}: {exc}")
        raise
    client.xadd(key, {"a": attempt, "end": len(out), "crc": crc})
    return out


def streamed(run_id: int, node_ids: list[str]) -> dict[str, str]:
    """Which of these outputs are streamed, and how (``BYTES`` or ``ITEMS``; one round trip)."""
    if not node_ids:
        return {}
    raw = get_redis().hmget(keys.streams(run_id), node_ids)
    return {nid: json.loads(r).get("kind", BYTES) for nid, r in zip(node_ids, raw) if r is not None}


def complete(run_id: int, node_id: str) -> bool:
    """Whether the current attempt's stream ended well (a redelivered producer may then reuse it)."""
    raw = get_redis().hget(keys.streams(run_id), node_id)
    if raw is None:
        return False
    attempt = json.loads(raw)["attempt"].encode()
    last = get_redis().xrevrange(keys.stream(run_id, node_id), count=1)
    if not last:
        return False
    fields = last[0][1]
    assert fields is not None, "an entry XREVRANGE returns has its fields"
    return fields.get(b"a") == attempt and b"end" in fields


def _entries(run_id: int, node_id: str, stopped: Callable[[], bool], stall_s: float | None) -> Iterator[dict]:
    """Every entry of the stream, waiting for new ones (raises on stall, or when ``stopped()``)."""
    stall_s = float(settings.SLAFLOW_STREAM_STALL_S if stall_s is None else stall_s)
    client, key, last = get_redis(), keys.stream(run_id, node_id), "0-0"
    heard = time.monotonic()
    while True:
        got = client.xread({key: last}, count=8)
        if not got:  # waiting for the producer: a body reading items gives its core back meanwhile (``cores``)
            with cores.lent():
                got = client.xread({key: last}, count=8, block=500)
        assert isinstance(got, list), "XREAD replies [[key, entries]] (redis-py's default reply shapes)"
        if not got:
            if stopped():
                raise StreamError(f"the run ended while {node_id!r} was streaming")
            if time.monotonic() - heard > stall_s:
                raise StreamError(f"the stream of {node_id!r} stalled: nothing for {stall_s:.0f} s")
            continue
        heard = time.monotonic()
        for entry_id, fields in got[0][1]:
            last = entry_id
            yield fields


def _failed(node_id: str, fields: dict) -> StreamError:
    return StreamError(
        f"the producer of {node_id!r} failed while streaming its output: {fields[b'err'].decode(errors='replace')}"
    )


def items(
    run_id: int, node_id: str, *, stopped: Callable[[], bool] = lambda: False, stall_s: float | None = None
) -> Iterator[Any]:
    """A generator task's items as they are published (``StreamError`` if it fails or its count or CRC
    does not check out at the end)."""
    attempt, n, crc = None, 0, 0
    for fields in _entries(run_id, node_id, stopped, stall_s):
        if b"reset" in fields:
            if n:
                raise StreamError(f"the producer of {node_id!r} started over after {n} item(s) were read")
            attempt, crc = fields[b"a"], 0
            continue
        if attempt is None or fields.get(b"a") != attempt:
            continue
        if b"v" in fields:
            crc = zlib.crc32(fields[b"v"], crc)
            n += 1
            yield codec.loads(fields[b"v"])
        elif b"err" in fields:
            raise _failed(node_id, fields)
        elif b"end" in fields:
            if n != int(fields[b"end"]) or crc != int(fields[b"crc"]):
                raise StreamError(
                    f"the items of {node_id!r} do not check out ({n} read, {int(fields[b'end'])} sent): not using them"
                )
            return


def read(
    run_id: int, node_id: str, *, stopped: Callable[[], bool] = lambda: False, stall_s: float | None = None
) -> bytearray:
    """The output's bytes, read as they are written; raises ``StreamError`` (producer failed, stalled,
    checksum mismatch) and stops waiting when ``stopped()`` (the run is over)."""
    attempt, buf, pos, crc = None, bytearray(), 0, 0
    for fields in _entries(run_id, node_id, stopped, stall_s):
        if b"reset" in fields:
            attempt, buf, pos, crc = fields[b"a"], bytearray(int(fields[b"len"])), 0, 0
            continue
        if attempt is None or fields.get(b"a") != attempt:
            continue  # an earlier attempt's leftovers
        if b"c" in fields:
            piece = fields[b"c"]
            if pos + len(piece) > len(buf):
                raise StreamError(f"the stream of {node_id!r} sent more than the {len(buf)} bytes it announced")
            buf[pos : pos + len(piece)] = piece
            pos += len(piece)
            crc = zlib.crc32(piece, crc)
        elif b"err" in fields:
            raise _failed(node_id, fields)
        elif b"end" in fields:
            if pos != len(buf) or crc != int(fields[b"crc"]):
                raise StreamError(
                    f"the stream of {node_id!r} does not check out ({pos} of {len(buf)} bytes, "
                    f"CRC {crc} ≠ {int(fields[b'crc'])}): not using it"
                )
            return buf
    raise StreamError(f"the stream of {node_id!r} ended without its end mark")  # unreachable: entries never end
