"""WUKONG's task clustering and delayed I/O: a big output stays with the worker that made it.

Two halves, in two layers (docs/concepts/architecture.md): ``rule`` decides which tasks are
candidates (pure, over a plan); ``runtime`` is the branch hook that acts on each candidate's real
output at run time (Redis claims through ``store.readiness``).
"""
