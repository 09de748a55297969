"""PreLoad: fetch a task's remote inputs as soon as each exists, while the worker is busy with other work.

Two halves, in two layers (docs/concepts/architecture.md): ``rule`` picks the tasks whose remote
inputs are worth fetching early (pure, over a plan); ``runtime`` is the branch hook whose background
thread fetches them (Redis pub/sub and the data plane).
"""
