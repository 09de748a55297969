"""PreWarm: have a process of a configuration ready for a branch predicted to start cold.

Two halves, in two layers (docs/concepts/architecture.md): ``rule`` picks the sender and the moment
of each ping (pure, over a plan); ``runtime`` sends the ping (a Celery message), keeps the pinged
process waiting for its branch and hands the branch to it (Redis scripts).
"""
