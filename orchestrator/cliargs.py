"""List options of the command line, one way everywhere: spaces, commas, or both, and repeatable.

Every option that takes several values (``--workflows``, ``--planners``, ``--slas``,
``--optimizations``, ``--param``, bench's ``--workload``/``--scenario``/``--size``/``--planner``,
``sla_report``'s ``--planner``/``--sla``) is declared with ``add_list_argument``, so these all mean
the same::

    --slas p50 p90      --slas p50,p90      --slas p50, p90      --slas p50 --slas p90

Names split at commas (``names``). ``key=value`` items split at a comma only where the next piece is
a new ``key=`` (``pairs``: ``--param n=8,size=2`` is two items, ``--param label=a,b`` one). Choices
are checked after splitting, and an unknown item is an error naming it and the known ones; no item
at all (``--optimizations ''``) is an empty list.
"""

from __future__ import annotations

import argparse
import re
from typing import Callable, Iterable

_KEY = re.compile(r"^\s*[\w.-]+(:[\w.-]+)?\s*=")


def names(values: Iterable[str]) -> list[str]:
    """``["a,b", "c"]`` → ``["a", "b", "c"]`` (empty pieces dropped)."""
    return [piece.strip() for value in values for piece in value.split(",") if piece.strip()]


def pairs(values: Iterable[str]) -> list[str]:
    """``["n=8,size=2", "label=a,b"]`` → ``["n=8", "size=2", "label=a,b"]``: a comma starts a new item
    only before another ``key=``."""
    out: list[str] = []
    for value in values:
        current: str | None = None
        for piece in value.split(","):
            if current is None or _KEY.match(piece):
                if current is not None and current.strip():
                    out.append(current.strip())
                current = piece
            else:
                current += "," + piece
        if current is not None and current.strip():
            out.append(current.strip())
    return out


def words(values: Iterable[str]) -> list[str]:
    """Items whose own syntax uses commas (``--params W:k=v,k=v``): spaces separate them."""
    return [v.strip() for v in values if v.strip()]


class ListAction(argparse.Action):
    """``nargs="+"`` values, split by ``split``, checked against ``item_choices``, added to what
    earlier occurrences of the option gave."""

    def __init__(
        self,
        option_strings,
        dest,
        *,
        split: Callable[[Iterable[str]], list[str]] = names,
        item_choices: Iterable[str] | None = None,
        **kwargs,
    ):
        kwargs.setdefault("nargs", "+")
        super().__init__(option_strings, dest, **kwargs)
        self.split = split
        self.item_choices = None if item_choices is None else list(item_choices)

    def __call__(self, parser, namespace, values, option_string=None):
        items = self.split(values if isinstance(values, list) else [values])
        if self.item_choices is not None:
            unknown = [i for i in items if i not in self.item_choices]
            if unknown:
                parser.error(
                    f"{option_string}: unknown {', '.join(map(repr, unknown))}; one of {', '.join(self.item_choices)}"
                )
        earlier = getattr(namespace, self.dest, None)
        earlier = [] if earlier is None or earlier is self.default else list(earlier)
        setattr(namespace, self.dest, earlier + items)


_EMPTY = object()


def add_list_argument(
    parser,
    *flags: str,
    choices: Iterable[str] | None = None,
    default=_EMPTY,
    split: Callable[[Iterable[str]], list[str]] = names,
    help: str = "",
    **kwargs,
):
    """Declare a list option: spaces or commas, repeatable; ``default`` when absent (``[]`` unless
    given; ``None`` tells "not given" from an empty list)."""
    note = "spaces or commas" if split is not words else "space-separated"
    help = f"{help} ({note}; repeatable)" if help else f"{note}; repeatable"
    return parser.add_argument(
        *flags,
        action=ListAction,
        split=split,
        item_choices=choices,
        default=[] if default is _EMPTY else default,
        help=help,
        **kwargs,
    )


def pick(opts: dict, *names: str) -> dict:
    """The parsed options ``names``, as the keyword arguments of the function a command hands them to."""
    return {name: opts[name] for name in names}
