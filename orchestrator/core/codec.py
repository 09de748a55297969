"""Encoding task values without pickle.

Values that cross process boundaries (task outputs in Redis, constants in a
JSON spec, results in Postgres) are JSON plus a few tagged types: numpy
arrays, bytes, tuples and non-string-keyed dicts. Pickle is never used, so a
value read back can never run code.

A top-level numpy array is stored as raw ``.npy`` bytes (fast path, no base64;
numpy pads the header so the data starts 64-byte aligned), top-level bytes as
a short magic then the raw bytes; everything else is UTF-8 JSON.

``encode`` gives the encoded form as the buffers it is made of (``Encoded``):
an array's ``.npy`` header and the array's own data, never joined into one
more copy unless something needs one ``bytes`` (a small value for Redis): the
output store writes the parts straight into their file, the durable result
streams them into Postgres. ``dumps`` is ``encode(...).tobytes()``.

``loads`` gives values of their own (a writeable array, ``bytes``);
``loads_view`` decodes a read-only buffer it may keep (a mapped file of the
output store, ``store.shm``): an array or bytes then *is* that buffer — no
copy, ``writeable`` False — and the rest is decoded as usual.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from typing import Any

TAG = "__sf__"
_NPY_MAGIC = b"\x93NUMPY"
_BYTES_MAGIC = b"\x93SFBYTES"


class CodecError(TypeError):
    """A value slaflow cannot store; the message names the offending type and where."""


def _np():
    import numpy

    return numpy


def to_jsonable(value: Any, where: str = "value") -> Any:
    """A JSON-compatible form of ``value`` (tagged where JSON has no type)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {TAG: "float", "value": repr(value)}
    if isinstance(value, list):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and TAG not in value and set(value) != {"ref"}:
            return {k: to_jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
        # Keys JSON cannot hold, or a dict that would read back as a ref/tag.
        return {
            TAG: "dict",
            "items": [[to_jsonable(k, f"{where} key"), to_jsonable(v, f"{where}[{k!r}]")] for k, v in value.items()],
        }
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {TAG: "bytes", "b64": base64.b64encode(bytes(value)).decode("ascii")}
    np = _np()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise CodecError(f"{where}: numpy arrays of dtype=object cannot be stored")
        return {TAG: "ndarray", "npy": base64.b64encode(_npy_bytes(value)).decode("ascii")}
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), where)
    raise CodecError(
        f"{where}: values of type {type(value).__module__}.{type(value).__qualname__} cannot be stored "
        "(use JSON types, tuples, bytes or numpy arrays)"
    )


def from_jsonable(data: Any) -> Any:
    if isinstance(data, list):
        return [from_jsonable(v) for v in data]
    if isinstance(data, dict):
        tag = data.get(TAG)
        if tag is None:
            return {k: from_jsonable(v) for k, v in data.items()}
        if tag == "tuple":
            return tuple(from_jsonable(v) for v in data["items"])
        if tag == "dict":
            return {_hashable(from_jsonable(k)): from_jsonable(v) for k, v in data["items"]}
        if tag == "bytes":
            return base64.b64decode(data["b64"])
        if tag == "ndarray":
            return _npy_load(base64.b64decode(data["npy"]))
        if tag == "float":
            return float(data["value"])
        raise CodecError(f"unknown tagged value {tag!r}")
    return data


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


class Encoded:
    """A value's encoded form as the buffers it is made of, in order (``parts``), and its ``size``.

    A C-contiguous array's parts are its ``.npy`` header and a view of the array's own data: nothing is
    copied until someone needs one ``bytes`` (``tobytes``, made once). The parts refer to the value, so
    they read what the value holds when they are read: the branch runtime writes them out before any
    other task of its branch runs (one that may change its inputs in place); a holder that keeps them
    longer takes ``frozen``, a copy."""

    __slots__ = ("parts", "size", "_joined")

    def __init__(self, parts: Any):
        self.parts = tuple(p for p in parts if memoryview(p).nbytes) or (b"",)
        self.size = sum(memoryview(p).nbytes for p in self.parts)
        self._joined: bytes | None = None

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return self.tobytes()

    def tobytes(self) -> bytes:
        """The encoded value in one ``bytes`` (joined once, then kept)."""
        if self._joined is None:
            only = self.parts[0]
            self._joined = only if len(self.parts) == 1 and isinstance(only, bytes) else b"".join(self.parts)
        return self._joined

    def frozen(self) -> "Encoded":
        """This form with its own copy of the bytes (later changes of the value do not reach it)."""
        return Encoded([self.tobytes()])


def _npy_parts(array: Any) -> list:
    """The ``.npy`` form as [header, the array's own buffer] (no copy of the data; ``np.save`` into a
    BytesIO copied a 32 MB array three times, joining header and data once more: 55 ms → 28 ms → 0)."""
    np = _np()
    if array.flags.c_contiguous and array.dtype.hasobject is False:
        head = io.BytesIO()
        np.lib.format.write_array_header_1_0(head, np.lib.format.header_data_from_array_1_0(array))
        body = array.data.cast("B") if array.ndim and array.size else array.tobytes()
        return [head.getvalue(), body]
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return [buf.getvalue()]


def _npy_bytes(array: Any) -> bytes:
    return Encoded(_npy_parts(array)).tobytes()


def _npy_load(raw: bytes) -> Any:
    """A writeable array from ``.npy`` bytes, copying the data once."""
    np = _np()
    head = io.BytesIO(raw[:4096])
    version = np.lib.format.read_magic(head)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
        if not fortran and not dtype.hasobject:
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            return np.frombuffer(raw, dtype=dtype, count=count, offset=head.tell()).reshape(shape).copy()
    return np.load(io.BytesIO(raw), allow_pickle=False)


def encode(value: Any, where: str = "value") -> Encoded:
    """``value`` encoded, as its parts (an array's or bytes' own buffer is one of them, not copied);
    CodecError for a value that cannot be stored, at once."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Encoded([_BYTES_MAGIC, value])
    np = _np()
    if isinstance(value, np.ndarray) and value.dtype != object:
        return Encoded(_npy_parts(value))
    return Encoded([json.dumps(to_jsonable(value, where), separators=(",", ":")).encode("utf-8")])


def dumps(value: Any, where: str = "value") -> bytes:
    """Bytes for Redis or Postgres."""
    return encode(value, where).tobytes()


def parts_of(data: Any) -> tuple:
    """The buffers of an encoded value: an ``Encoded``'s parts, or the one buffer it is."""
    return data.parts if isinstance(data, Encoded) else (data,)


def loads(raw: bytes) -> Any:
    if raw[:6] == _NPY_MAGIC:
        return _npy_load(raw)
    if raw[:8] == _BYTES_MAGIC:
        return bytes(raw[8:])
    return from_jsonable(json.loads(bytes(raw).decode("utf-8")))


def loads_view(view: memoryview) -> Any:
    """``loads`` of a read-only buffer the value may keep: a numpy array is built on it (its data
    not owned, not writeable) and bytes come back as a read-only ``memoryview`` of it — no copy."""
    if view[:6] == _NPY_MAGIC:
        array = _npy_view(view)
        if array is not None:
            return array
    if view[:8] == _BYTES_MAGIC:
        return view[8:]
    return loads(bytes(view))


def _npy_view(buf):
    """The array of ``.npy`` bytes in ``buf``, on ``buf`` itself; None for a form it cannot map."""
    np = _np()
    head = io.BytesIO(bytes(buf[:4096]))
    if np.lib.format.read_magic(head) != (1, 0):
        return None
    shape, fortran, dtype = np.lib.format.read_array_header_1_0(head)
    if fortran or dtype.hasobject:
        return None
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    return np.frombuffer(buf, dtype=dtype, count=count, offset=head.tell()).reshape(shape)


def loads_buffer(buf: bytearray) -> Any:
    """``loads`` of a buffer the caller gives up (a streamed input): an array uses it in place, no copy."""
    if buf[:6] == _NPY_MAGIC:
        array = _npy_view(buf)
        if array is not None:
            return array
    return loads(bytes(buf))


def stored_form(raw: Any) -> tuple[str, memoryview]:
    """What ``dumps`` made of a value, and its bytes in that form, read without decoding it (the REST
    download serves them as they are): ``("npy", the .npy file)`` for a top-level numpy array,
    ``("bytes", the raw bytes)`` for top-level bytes, ``("json", the UTF-8 JSON, tags and all)`` else."""
    view = memoryview(raw).cast("B")
    if view[:6] == _NPY_MAGIC:
        return "npy", view
    if view[:8] == _BYTES_MAGIC:
        return "bytes", view[8:]
    return "json", view


_TAG_KEY = re.compile(b'"' + TAG.encode() + b'"')
_TAGGED = {
    "tuple": "a tuple",
    "dict": "a dict with keys JSON cannot hold",
    "bytes": "bytes",
    "ndarray": "a numpy array",
    "float": "a non-finite float",
}


def not_plain_json(encoded: Any) -> str | None:
    """None when the JSON ``dumps`` wrote (``stored_form``'s "json") is plain JSON, read back as it was
    stored; else what is not, e.g. ``"a tuple at value[1]"``. JSON only is parsed — nothing is decoded."""
    if _TAG_KEY.search(encoded) is None:  # every tagged value has the tag as a key
        return None
    return _first_tagged(json.loads(bytes(encoded).decode("utf-8")), "value")


def _first_tagged(data: Any, where: str) -> str | None:
    if isinstance(data, list):
        items: Any = ((f"{where}[{i}]", v) for i, v in enumerate(data))
    elif isinstance(data, dict):
        tag = data.get(TAG)
        if tag is not None:
            return f"{_TAGGED.get(tag, repr(tag))} at {where}"
        items = ((f"{where}[{k!r}]", v) for k, v in data.items())
    else:
        return None
    for inner, value in items:
        found = _first_tagged(value, inner)
        if found is not None:
            return found
    return None


def is_plain_json(value: Any) -> bool:
    """True when ``value`` is already plain JSON (what the REST API can return as is)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False)) == value
    except (TypeError, ValueError):
        return False


def describe(value: Any) -> dict:
    """A short typed description of a value (for results too big or not JSON)."""
    np = _np()
    if isinstance(value, np.ndarray):
        return {"type": "ndarray", "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, (list, tuple, dict, set)):
        return {"type": type(value).__name__, "length": len(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"type": "bytes", "length": len(value)}
    return {"type": type(value).__name__}
