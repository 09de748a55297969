"""TaskDup: a worker waiting for a straggling upstream runs it itself.

Two halves, in two layers (docs/concepts/architecture.md): ``rule`` lists the upstreams worth
duplicating and holds the pure decision of when to (``decide``, ``cores_taken``); ``runtime`` is the
branch hook that asks it while waiting, takes the dup lock and stops the original that lost.
"""
