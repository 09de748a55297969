"""``manage.py bench``'s subcommands, one module each: its options, its checks, how it prints its rows.

Each module has ``NAMES`` (the subcommand names it answers: ``load`` and
``failures`` share one), ``HELP`` (its part of ``bench --help``), ``REPEAT``
(the default of ``--repeat``), ``add_arguments(parser)`` for the options only
it takes (an argument group of its own), and ``run(cmd, opts)``. Options
several subcommands take, and the helpers they share (the workers a bench
runs on, how rows are printed), are in ``shared``. The command itself
(``experiments/management/commands/bench.py``) is the table of these modules.
What a bench measures lives beside them, in ``experiments.bench.<name>``.
"""

from experiments.bench.commands import (
    calibration,
    code,
    host_faults,
    lambda_,
    load,
    optimizations,
    planning,
    rescue,
    restarts,
    runtime,
    store,
)

# In ``bench --help`` order.
MODULES = (planning, runtime, load, restarts, host_faults, optimizations, calibration, store, code, lambda_, rescue)
BY_NAME = {name: module for module in MODULES for name in module.NAMES}
