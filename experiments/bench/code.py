"""``bench code``: what first use of pushed workflow code costs a worker, against using it cached.

A pushed module (``--code-kb`` KB of functions) and a pushed wheel (a package of ``--wheel-modules``
modules, imported through its ``__init__``) are each pushed fresh ``repeat`` times (a comment makes every
push new content, so nothing is cached beforehand), then resolved by the worker's own path
(``workers.codeloader.resolve``, the function every executor calls) three ways:

* **first use** — neither this machine's disk cache nor the process has the hash: fetched from the
  database, verified, written to the cache, imported (a new worker, or one that never ran the code);
* **disk-cached** — a new process on a machine that ran it before: read from the disk cache, verified,
  imported;
* **in-process** — the same process again (a warm worker): nothing to do.

Reported per kind and way: median milliseconds, min–max. What the bench pushes is deleted at the end.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import time
import uuid
import zipfile
from typing import Callable

from orchestrator.services import code as service
from workers import codeloader as loader

WAYS = ("first use", "disk-cached", "in-process")


def module_source(kb: int, salt: str) -> bytes:
    """About ``kb`` KB of small functions (parsed and compiled at import, as real workflow code is)."""
    lines = [f"# bench {salt}", "import math", ""]
    i = 0
    while sum(len(x) + 1 for x in lines) < kb * 1024:
        lines += [
            f"def f{i}(x, k={i}):",
            "    total = 0.0",
            "    for j in range(3):",
            "        total += math.sqrt(abs(x) + j + k)",
            "    return total",
            "",
        ]
        i += 1
    lines += ["def main(x):", "    return f0(x)", ""]
    return "\n".join(lines).encode()


def wheel_bytes(modules: int, kb: int, salt: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "benchpkg/__init__.py",
            "".join(f"from . import m{i}\n" for i in range(modules)) + "def main(x):\n    return m0.f0(x)\n",
        )
        for i in range(modules):
            z.writestr(f"benchpkg/m{i}.py", module_source(max(1, kb // modules), f"{salt}-{i}"))
        z.writestr("benchpkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    return buf.getvalue()


def bench(
    *, repeat: int, code_kb: int, wheel_modules: int, progress: Callable[[str], None] = lambda label: None
) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    User = get_user_model()
    user = User.objects.create_user(f"bench-code-{uuid.uuid4().hex[:8]}")
    user.user_permissions.add(Permission.objects.get(codename="push_code", content_type__app_label="orchestrator"))
    user = User.objects.get(pk=user.pk)  # a fresh permission cache
    samples: dict[tuple[str, str], list[float]] = {}
    sizes: dict[str, int] = {}
    shas: list[str] = []
    try:
        for _ in range(repeat):
            salt = uuid.uuid4().hex
            for kind, filename, data in (
                ("module", "benchmod.py", module_source(code_kb, salt)),
                ("wheel", "benchpkg-1.0-py3-none-any.whl", wheel_bytes(wheel_modules, code_kb, salt)),
            ):
                version, _ = service.push(user, filename, data)
                sha, name = version.sha256_id, version.code.name
                shas.append(sha)
                sizes[kind] = len(data)
                ref = f"code:{name}@sha256:{sha}:main"
                shutil.rmtree(os.path.dirname(loader.blob_path(sha)), ignore_errors=True)
                for way in WAYS:
                    if way == "disk-cached":
                        loader.forget(sha)
                    t0 = time.perf_counter()
                    fn = loader.resolve(ref)
                    samples.setdefault((kind, way), []).append(time.perf_counter() - t0)
                    fn(1.0)
                loader.forget(sha)
            progress("pushed, fetched, imported")
    finally:
        from orchestrator.models import CodeBlob

        user.delete()  # its code and versions
        CodeBlob.objects.filter(pk__in=shas, versions__isnull=True).delete()
        for sha in shas:
            shutil.rmtree(os.path.dirname(loader.blob_path(sha)), ignore_errors=True)
    return [{"kind": kind, "bytes": sizes[kind], "way": way, **_ms(values)} for (kind, way), values in samples.items()]


def _ms(seconds: list[float]) -> dict:
    """Median, least and most of ``seconds`` in milliseconds, and how many."""
    ms = sorted(v * 1000 for v in seconds)
    return {
        "median_ms": round(statistics.median(ms), 3),
        "min_ms": round(ms[0], 3),
        "max_ms": round(ms[-1], 3),
        "n": len(ms),
    }


def bench_on_workers(*, repeat: int, code_kb: int, progress: Callable[[str], None] = lambda label: None) -> list[dict]:
    """The same first use measured by the workers themselves: per repeat a fresh module is pushed, then one run
    of a one-task spec naming it and a second run of it. Reported per run: the branch's ``code_s`` (fetch,
    verify and import before its first task, recorded on ``WorkerStartup``) and its whole ``startup_s``
    (which includes it). Needs workers (``slaflow cluster``, or a local cluster the command starts)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    import slaflow
    from orchestrator.models import CodeBlob, WorkerStartup

    User = get_user_model()
    user = User.objects.create_user(f"bench-code-{uuid.uuid4().hex[:8]}")
    user.user_permissions.add(Permission.objects.get(codename="push_code", content_type__app_label="orchestrator"))
    user = User.objects.get(pk=user.pk)
    samples: dict[str, dict[str, list[float]]] = {"first run": {}, "second run": {}}
    shas: list[str] = []
    try:
        for _ in range(repeat):
            version, _ = service.push(user, "benchmod.py", module_source(code_kb, uuid.uuid4().hex))
            shas.append(version.sha256_id)
            spec = {"nodes": [{"id": "a", "function": f"code:benchmod@{version.version}:main", "args": [1.0]}]}
            for label in ("first run", "second run"):
                handle = slaflow.submit_spec(spec, name="bench-code", planner="wukong", sla="p90", owner=user)
                handle.result(timeout=120)
                deadline = time.monotonic() + 30  # the branch stores its start-up as it ends, after the result
                while not WorkerStartup.objects.filter(run_id=handle.id).exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                for s in WorkerStartup.objects.filter(run_id=handle.id):
                    samples[label].setdefault("code_s", []).append(s.code_s)
                    samples[label].setdefault("startup_s", []).append(s.startup_s)
            progress("pushed, run twice")
    finally:
        user.delete()
        CodeBlob.objects.filter(pk__in=shas, versions__isnull=True).delete()
    return [
        {"kind": "module", "way": f"on workers, {label}", "what": what, **_ms(values)}
        for label, by in samples.items()
        for what, values in by.items()
    ]
