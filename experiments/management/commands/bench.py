"""python manage.py bench planning|runtime|...   (measured, never asserted by tests)

One module per subcommand (``experiments.bench.commands``): its options, its
checks and its output; this command is their table.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from experiments.bench.commands import BY_NAME, MODULES, shared


class Command(BaseCommand):
    help = "Benchmarks (measured, never asserted by tests). " + " ".join(m.HELP for m in MODULES)

    def add_arguments(self, parser):
        parser.add_argument("what", choices=list(BY_NAME))
        shared.add_arguments(parser)
        for module in MODULES:
            module.add_arguments(parser)

    def handle(self, *args, **opts):
        module = BY_NAME[opts["what"]]
        if opts["repeat"] is None:
            opts["repeat"] = module.REPEAT
        if opts["repeat"] < 1:
            raise CommandError("--repeat must be at least 1")
        module.run(self, opts)
