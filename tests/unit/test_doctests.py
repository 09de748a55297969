"""Every docstring example in the source packages, run as a test.

Docstrings teach with small examples (``>>>``); this keeps them true. The modules are found by their text —
any ``.py`` file under the source packages with a ``>>>`` line — so an example added anywhere is collected
without a list to update, and only those modules are imported (not every management command and
migration, as ``--doctest-modules`` would). Each module is one test; its failure shows doctest's own report
(the example, what was expected, what came).
"""

from __future__ import annotations

import doctest
import importlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("orchestrator", "store", "workers", "localcluster", "slaflow", "webui", "experiments")
EXAMPLE = re.compile(r"^\s*>>> ", re.MULTILINE)


def modules_with_examples() -> list[str]:
    found = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if EXAMPLE.search(path.read_text()):
                parts = list(path.relative_to(ROOT).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                found.append(".".join(parts))
    return found


MODULES = modules_with_examples()


def test_the_source_packages_have_examples_to_run():
    assert len(MODULES) >= 5, MODULES  # a search that found nothing would pass every test below


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    for test in tests:
        runner.run(test, out=report.write)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0, f"{name} has a '>>>' line but no example doctest finds (not in a docstring?)"
    assert results.failed == 0, report.getvalue()
