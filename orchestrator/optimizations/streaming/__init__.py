"""Output streaming: a big output that must travel is read by its consumers while it is written.

Two halves, in two layers (docs/concepts/architecture.md): ``rule`` marks the tasks whose output
travels (pure, over a plan); ``runtime`` is the branch hook that opens, writes and reads the
output's stream (``store.streams``).
"""
