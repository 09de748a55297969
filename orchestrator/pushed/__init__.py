"""Workflow code that travels: modules and wheels users push, fetched by workers on first use.

* ``refs`` — the reference syntax a spec's ``function`` uses for pushed code (pure).
* ``checks`` — what a pushed file must be (a module name, a pure-Python wheel with sane members; pure).
* ``service`` — push, list, share, and pinning a submission's references to exact hashes (Django).
* ``loader`` — the worker side: fetch by hash, cache on disk, verify, import under a name unique to the
  hash (one function any executor calls: Celery workers and a Lambda handler alike).

Pushed code runs on the workers with their privileges: pushing needs ``orchestrator.push_code``.
"""
