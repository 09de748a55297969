"""The worker side of pushed code: fetch by hash, cache on disk, verify, import — no restart.

``resolve(path)`` turns a pinned reference (``code:<name>@sha256:<hex>:<function>``, see ``refs``) into
the callable. It is the one entry point every executor uses (Celery pool processes through
``workers.functions.resolve``; a Lambda handler can call it directly):

1. **fetch** — first use of a hash on this machine: the bytes come from the database (``CodeBlob``, by
   primary key). Workers already hold a database connection for their metrics and results, so fetching
   there adds no credential, no endpoint and no dependency on the web tier being up; a Lambda handler
   reaches the same database. They are written to ``SLAFLOW_CODE_CACHE_DIR/<sha256>/blob`` (0700
   directory, written to a temporary name then renamed, so a reader never sees half a file).
2. **verify** — every first use *in a process* reads the cached blob and checks its sha256. A mismatch
   (a tampered or torn cache file) is dropped and fetched again; bytes from the database that do not
   match their hash are refused (``CodeIntegrityError``) and nothing is imported.
3. **import** — from the verified bytes held in memory, never from files that could change after the
   check: a module or a wheel's packages are imported by an in-memory finder under
   ``slaflow_pushed.h<sha256>.<name>``, a name unique to the content, so two versions of one name live
   side by side in one process. Inside a wheel, relative imports work (``from . import util``); an
   absolute import of the package's own name does not (it is not on ``sys.path``). Wheel members are
   checked again as at push (``checks.wheel_files``): nothing is extracted to disk, so no path can escape.

4. **compiled code** — compiling is most of an import, so the code objects are cached beside the blob,
   signed with an HMAC keyed by ``SECRET_KEY`` (``_compiled``): a new process on a machine that ran the
   code before loads them instead of compiling; an unsigned, tampered or foreign file is ignored.

A process keeps what it imported for its life: the first branch that needs a hash pays fetch + import
(recorded as part of its cold start, ``WorkerStartup.code_s``); later ones pay nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.abc
import importlib.machinery
import marshal
import os
import sys
import tempfile
import threading
import time
from typing import Callable

from orchestrator.core import codechecks as checks, coderefs as refs

ROOT = "slaflow_pushed"
_TAG = (sys.implementation.cache_tag or "python").encode()  # compiled code is per interpreter version
_ZIP_MAGIC = b"PK\x03\x04"


class CodeIntegrityError(RuntimeError):
    """Pushed code whose bytes do not match their hash (in the database itself)."""


class CodeMissingError(LookupError):
    """No pushed code has this hash."""


_lock = threading.RLock()
_files: dict[str, dict[str, bytes]] = {}  # "h<sha256>" → path → bytes, verified
_codes: dict[str, dict[str, object]] = {}  # "h<sha256>" → path → compiled code object
_stats = {"fetched": 0, "from_cache": 0, "refetched": 0, "compiled": 0, "bytecode_cached": 0, "bytecode_refused": 0}


def cache_dir() -> str:
    from django.conf import settings

    return str(settings.SLAFLOW_CODE_CACHE_DIR)


def blob_path(sha256: str) -> str:
    return os.path.join(cache_dir(), sha256, "blob")


def resolve(path: str) -> Callable:
    """The plain callable a pinned reference names (unwrapping ``@task``); fetches and imports on first use."""
    ref = refs.parse(path)
    if not ref.pinned:
        raise refs.RefError(
            f"function {path!r} is not pinned to a hash (a submission pins it: code:<name>@sha256:<64 hex>:<function>)"
        )
    module = import_module(ref.sha256, ref.module)
    target = getattr(module, ref.attr, None)
    if target is None:
        raise AttributeError(f"function {path!r}: pushed module {ref.module!r} has no attribute {ref.attr!r}")
    target = getattr(target, "fn", target)
    if not callable(target):
        raise TypeError(f"function {path!r} is not callable")
    return target


def import_module(sha256: str, module: str):
    """``module`` (``name`` or ``name.sub``) of the pushed code with this hash, imported in this process."""
    ensure(sha256)
    return importlib.import_module(f"{ROOT}.h{sha256}.{module}")


def ensure(sha256: str) -> bool:
    """Make the code with this hash importable in this process; True if it was not yet (work was done)."""
    key = f"h{sha256}"
    if key in _files:
        return False
    with _lock:
        if key in _files:
            return False
        data = _verified_bytes(sha256)
        files = _unpack(data)
        _codes[key] = _compiled(sha256, files)
        _files[key] = files
        _install_finder()
        return True


def loaded() -> list[str]:
    """Hashes imported in this process."""
    return [k[1:] for k in _files]


def forget(sha256: str) -> None:
    """Drop a hash from this process (its modules too): the next use verifies and imports again."""
    with _lock:
        _files.pop(f"h{sha256}", None)
        _codes.pop(f"h{sha256}", None)
        prefix = f"{ROOT}.h{sha256}"
        for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
            del sys.modules[name]


def stats() -> dict:
    return dict(_stats)


def _verified_bytes(sha256: str) -> bytes:
    path = blob_path(sha256)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = None
    if data is not None and hashlib.sha256(data).hexdigest() == sha256:
        _stats["from_cache"] += 1
        return data
    if data is not None:
        _stats["refetched"] += 1  # tampered or torn: never used, fetched again
    data = _fetch(sha256)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CodeIntegrityError(
            f"pushed code {sha256[:12]}…: the stored bytes do not match their sha256 (refused; nothing imported)"
        )
    _write_cache(sha256, data)
    _stats["fetched"] += 1
    return data


def _fetch(sha256: str) -> bytes:
    from orchestrator.dbretry import retrying
    from orchestrator.models import CodeBlob

    got = retrying(
        lambda: CodeBlob.objects.filter(pk=sha256).values_list("data", flat=True).first(), "fetching pushed code"
    )
    if got is None:
        raise CodeMissingError(f"no pushed code has sha256 {sha256}")
    return bytes(got)


def _write_cache(sha256: str, data: bytes) -> None:
    _write_file(sha256, "blob", data)


def _write_file(sha256: str, name: str, data: bytes) -> None:
    directory = os.path.join(cache_dir(), sha256)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, os.path.join(directory, name))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError:
        pass  # no cache (read-only disk): the code still runs from memory; the next process fetches again


# --- compiled code, cached beside the blob ------------------------------------------------------------------
#
# Compiling dominates an import (64 KB of source: ~20 ms; loading its code objects: ~1 ms), so a process
# that finds the code on disk also finds it compiled: ``<sha256>/code.<python cache tag>``, an HMAC-SHA256
# (keyed by SECRET_KEY, over the hash, the tag and the payload) then the marshalled code objects of every
# ``.py``. A file whose HMAC does not match (tampered, torn, another key) is ignored: the verified source is
# compiled again and the file rewritten. Marshal only ever reads what this deployment's key signed.


def _mac(sha256: str, payload: bytes) -> bytes:
    from django.conf import settings

    key = hashlib.sha256(b"slaflow-pushed-code\0" + str(settings.SECRET_KEY).encode()).digest()
    return hmac.new(key, sha256.encode() + b"\0" + _TAG + b"\0" + payload, hashlib.sha256).digest()


def bytecode_path(sha256: str) -> str:
    return os.path.join(cache_dir(), sha256, f"code.{_TAG.decode()}")


def _compiled(sha256: str, files: dict[str, bytes]) -> dict[str, object]:
    try:
        with open(bytecode_path(sha256), "rb") as f:
            raw = f.read()
    except OSError:
        raw = b""
    if len(raw) > 32:
        mac, payload = raw[:32], raw[32:]
        if hmac.compare_digest(mac, _mac(sha256, payload)):
            try:
                codes = marshal.loads(payload)
            except (EOFError, ValueError, TypeError):
                codes = None
            if isinstance(codes, dict) and set(codes) == {p for p in files if p == "" or p.endswith(".py")}:
                _stats["bytecode_cached"] += 1
                return codes
        _stats["bytecode_refused"] += 1
    codes = {}
    for path, source in files.items():
        if path == "" or path.endswith(".py"):
            origin = os.path.join(cache_dir(), sha256, path or "module.py")
            try:
                codes[path] = compile(source.decode("utf-8"), origin, "exec", dont_inherit=True)
            except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
                return {}  # the import compiles it and raises, naming the error
    _stats["compiled"] += 1
    payload = marshal.dumps(codes)
    _write_file(sha256, os.path.basename(bytecode_path(sha256)), _mac(sha256, payload) + payload)
    return codes


def _unpack(data: bytes) -> dict[str, bytes]:
    from django.conf import settings

    if data.startswith(_ZIP_MAGIC):
        big = max(len(data), int(settings.SLAFLOW_CODE_MAX_BYTES))
        return checks.wheel_files(data, big, max(int(settings.SLAFLOW_CODE_MAX_UNPACKED_BYTES), big), compiles=False)
    return {"": data}  # a module: its name comes from the reference (one content, any name)


# --- the in-memory importer -------------------------------------------------------------------------------


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == ROOT:
            return importlib.machinery.ModuleSpec(ROOT, _Loader(None, None), is_package=True)
        if not fullname.startswith(ROOT + "."):
            return None
        head, _, sub = fullname[len(ROOT) + 1 :].partition(".")
        files = _files.get(head)
        if files is None:
            return None
        if not sub:
            return importlib.machinery.ModuleSpec(fullname, _Loader(None, None), is_package=True)
        rel = sub.replace(".", "/")
        if "" in files:  # a module: one file, importable under any single name
            if "." in sub:
                return None
            return self._spec(fullname, head, "", f"{rel}.py", package=False)
        if f"{rel}/__init__.py" in files:
            return self._spec(fullname, head, f"{rel}/__init__.py", f"{rel}/__init__.py", package=True)
        if f"{rel}.py" in files:
            return self._spec(fullname, head, f"{rel}.py", f"{rel}.py", package=False)
        if any(p.startswith(rel + "/") for p in files):  # a directory without __init__: an empty package
            return importlib.machinery.ModuleSpec(fullname, _Loader(None, None), is_package=True)
        return None

    @staticmethod
    def _spec(fullname: str, head: str, key: str, shown: str, package: bool):
        loader = _Loader(head, key)
        origin = os.path.join(cache_dir(), head[1:], shown)
        spec = importlib.machinery.ModuleSpec(fullname, loader, origin=origin, is_package=package)
        spec.has_location = True
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, head: str | None, key: str | None):
        self.head, self.key = head, key

    def create_module(self, spec):
        return None

    def get_source(self, fullname):  # tracebacks show the pushed lines (linecache asks the loader)
        if self.head is None:
            return ""
        return _files[self.head][self.key].decode("utf-8")

    def exec_module(self, module):
        if self.head is None:
            return
        code = _codes.get(self.head, {}).get(self.key)
        if code is None:
            code = compile(self.get_source(module.__name__), module.__spec__.origin, "exec", dont_inherit=True)
        exec(code, module.__dict__)


_finder: _Finder | None = None


def _install_finder() -> None:
    global _finder
    if _finder is None:
        _finder = _Finder()
        sys.meta_path.insert(0, _finder)


def timed_resolve(path: str) -> tuple[Callable, float]:
    """``resolve`` and the seconds it took (fetch + verify + import when first used here; ~0 after)."""
    t0 = time.perf_counter()
    fn = resolve(path)
    return fn, time.perf_counter() - t0
