"""What each allowed program may be given: its options (an allow-list) and what its operands are.

A program is safe with hostile argv only if every option it is given is one
we have read and found harmless: GNU ``sort --compress-program=sh`` runs a
shell, ``sort -o`` and ``uniq IN OUT`` write files, ``wc --files0-from`` and
``sort --random-source`` read any file. So each program has a ``Policy``:

* ``short`` and ``long``: the options it accepts, each a flag or an option
  taking a value of a declared kind (``VALUE_KINDS``: a number, a size, one
  character, a sort key, a field list, text, or ``file``: a ``{name}``
  placeholder of one of the node's files);
* ``operands``: what its positional arguments are, in order, then ``rest``
  for any further ones: ``file`` (a ``{name}`` placeholder, or ``-`` for
  stdin) or ``text`` (data such as grep's PATTERN or tr's SETs, never opened);
  ``max_operands`` bounds them (uniq's second operand would be an OUTPUT file);
* ``refused``: options refused with the reason (a clearer error than "not
  listed"; anything unlisted is refused all the same).

Only exact spellings are accepted: GNU accepts unambiguous abbreviations of
long options (``--compress`` for ``--compress-program``), so an allow-list
that matched prefixes would let refused options through. Extra policies
(test programs, an operator's own tools) come from ``SLAFLOW_COMMAND_POLICIES``:
dotted paths of dicts {program: Policy}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Opt:
    """An option: a flag (``value`` None) or one taking a value of kind ``value``; ``optional``: a long
    option whose value is given only as ``--opt=value``; ``choices``: the values a ``choice`` accepts;
    ``pattern``: the option supplies grep's PATTERN (so there is no PATTERN operand)."""

    value: str | None = None
    optional: bool = False
    choices: tuple[str, ...] = ()
    pattern: bool = False


FLAG = Opt()


def takes(kind: str, **kw: Any) -> Opt:
    return Opt(value=kind, **kw)


@dataclass(frozen=True)
class Policy:
    short: dict[str, Opt] = field(default_factory=dict)
    long: dict[str, Opt] = field(default_factory=dict)
    operands: tuple[str, ...] = ()
    rest: str | None = "file"
    min_operands: int = 0
    max_operands: int | None = None
    too_many: str = ""  # why more operands are refused (shown in the error)
    refused: dict[str, str] = field(default_factory=dict)


# A value's kind → the text it must match (whole). ``file`` and ``text`` are handled by the checker.
VALUE_KINDS = {
    "int": re.compile(r"\d{1,12}"),
    "count": re.compile(r"[+-]?\d{1,15}(?:[bkKmMgGtTpPeE]|[kKmMgGtTpPeE]i?B)?"),  # head -n -5, tail -n +5, 1KiB
    "size": re.compile(r"\d{1,15}[%bkKmMgGtTpPeE]?"),
    "char": re.compile(r".|\\0", re.S),
    "keydef": re.compile(r"\d{1,6}(?:\.\d{1,6})?[bdfgiMhnRrV]*(?:,\d{1,6}(?:\.\d{1,6})?[bdfgiMhnRrV]*)?"),
    "list": re.compile(r"[0-9,\- ]{1,200}"),
    "duration": re.compile(r"\d{1,9}(?:\.\d{1,9})?[smhd]?"),
}

RUNS_A_PROGRAM = "it runs another program"
WRITES_A_FILE = "it writes a file"
READS_A_FILE = "it reads a file named in the argument (file inputs are {name} placeholders only)"
WALKS_DIRECTORIES = "it reads directories of the worker's file system"
NEVER_ENDS = "it waits for more input forever"

SORT = Policy(
    short={**{c: FLAG for c in "bdfgiMhnRrVcCmsuz"}, "k": takes("keydef"), "t": takes("char"), "S": takes("size")},
    long={
        **{
            name: FLAG
            for name in (
                "ignore-leading-blanks",
                "dictionary-order",
                "ignore-case",
                "general-numeric-sort",
                "human-numeric-sort",
                "ignore-nonprinting",
                "month-sort",
                "numeric-sort",
                "random-sort",
                "reverse",
                "version-sort",
                "merge",
                "stable",
                "unique",
                "zero-terminated",
                "debug",
            )
        },
        "check": takes("choice", optional=True, choices=("diagnose-first", "quiet", "silent")),
        "key": takes("keydef"),
        "field-separator": takes("char"),
        "buffer-size": takes("size"),
        "parallel": takes("int"),
        "sort": takes("choice", choices=("general-numeric", "human-numeric", "month", "numeric", "random", "version")),
    },
    refused={
        "--compress-program": RUNS_A_PROGRAM,
        "-o": WRITES_A_FILE,
        "--output": WRITES_A_FILE,
        "-T": WRITES_A_FILE + " (temporary files in a directory it names)",
        "--temporary-directory": WRITES_A_FILE + " (temporary files in a directory it names)",
        "--files0-from": READS_A_FILE,
        "--random-source": READS_A_FILE,
    },
)

UNIQ = Policy(
    short={**{c: FLAG for c in "cdDiuz"}, "f": takes("int"), "s": takes("int"), "w": takes("int")},
    long={
        **{name: FLAG for name in ("count", "repeated", "ignore-case", "unique", "zero-terminated")},
        "skip-fields": takes("int"),
        "skip-chars": takes("int"),
        "check-chars": takes("int"),
        "all-repeated": takes("choice", optional=True, choices=("none", "prepend", "separate")),
        "group": takes("choice", optional=True, choices=("separate", "prepend", "append", "both")),
    },
    max_operands=1,
    too_many="uniq's second operand is an OUTPUT file it writes",
)

WC = Policy(
    short={c: FLAG for c in "cmlLw"},
    long={name: FLAG for name in ("bytes", "chars", "lines", "max-line-length", "words")},
    refused={"--files0-from": READS_A_FILE},
)

TR = Policy(
    short={c: FLAG for c in "cCdst"},
    long={name: FLAG for name in ("complement", "delete", "squeeze-repeats", "truncate-set1")},
    operands=("text", "text"),
    rest=None,
    min_operands=1,
    max_operands=2,
    too_many="tr takes at most two SETs and reads only stdin",
)

CUT = Policy(
    short={
        "b": takes("list"),
        "c": takes("list"),
        "f": takes("list"),
        "d": takes("char"),
        "n": FLAG,
        "s": FLAG,
        "z": FLAG,
    },
    long={
        "bytes": takes("list"),
        "characters": takes("list"),
        "fields": takes("list"),
        "delimiter": takes("char"),
        "complement": FLAG,
        "only-delimited": FLAG,
        "output-delimiter": takes("text"),
        "zero-terminated": FLAG,
    },
)

HEAD = Policy(
    short={"c": takes("count"), "n": takes("count"), "q": FLAG, "v": FLAG, "z": FLAG},
    long={
        "bytes": takes("count"),
        "lines": takes("count"),
        "quiet": FLAG,
        "silent": FLAG,
        "verbose": FLAG,
        "zero-terminated": FLAG,
    },
)

TAIL = Policy(
    short=dict(HEAD.short),  # tail takes head's options, and refuses the ones that never end
    long=dict(HEAD.long),
    refused={
        "-f": NEVER_ENDS,
        "-F": NEVER_ENDS,
        "--follow": NEVER_ENDS,
        "--retry": NEVER_ENDS,
        "--pid": NEVER_ENDS,
        "-s": NEVER_ENDS,
        "--sleep-interval": NEVER_ENDS,
    },
)

# grep's options that take a value: short name, long name, what the value is.
_GREP_VALUED = (
    ("e", "regexp", takes("text", pattern=True)),
    ("f", "file", takes("file", pattern=True)),
    ("m", "max-count", takes("int")),
    ("A", "after-context", takes("int")),
    ("B", "before-context", takes("int")),
    ("C", "context", takes("int")),
)
GREP = Policy(
    short={**{c: FLAG for c in "EFGPivwxcoqsnbHhzaIT"}, **{short: opt for short, _, opt in _GREP_VALUED}},
    long={
        **{
            name: FLAG
            for name in (
                "extended-regexp",
                "fixed-strings",
                "basic-regexp",
                "perl-regexp",
                "ignore-case",
                "no-ignore-case",
                "invert-match",
                "word-regexp",
                "line-regexp",
                "count",
                "only-matching",
                "quiet",
                "silent",
                "no-messages",
                "byte-offset",
                "line-number",
                "with-filename",
                "no-filename",
                "null-data",
                "text",
                "initial-tab",
                "null",
            )
        },
        **{long: opt for _, long, opt in _GREP_VALUED},
        "label": takes("text"),
        "binary-files": takes("choice", choices=("binary", "text", "without-match")),
    },
    operands=("pattern",),
    refused={
        "-r": WALKS_DIRECTORIES,
        "-R": WALKS_DIRECTORIES,
        "--recursive": WALKS_DIRECTORIES,
        "--dereference-recursive": WALKS_DIRECTORIES,
        "-d": WALKS_DIRECTORIES,
        "--directories": WALKS_DIRECTORIES,
        "-D": READS_A_FILE,
        "--devices": READS_A_FILE,
        "--exclude-from": READS_A_FILE,
    },
)

CAT = Policy(
    short={c: FLAG for c in "AbeEnstTuv"},
    long={
        name: FLAG
        for name in (
            "show-all",
            "number-nonblank",
            "number",
            "squeeze-blank",
            "show-ends",
            "show-tabs",
            "show-nonprinting",
        )
    },
)

# Test and operator programs declare theirs through SLAFLOW_COMMAND_POLICIES; ``sleep`` is here because a
# command that holds its slot a known time is what time limits are tested with.
SLEEP = Policy(operands=("duration",), rest="duration", min_operands=1, max_operands=4)

POLICIES: dict[str, Policy] = {
    "sort": SORT,
    "uniq": UNIQ,
    "wc": WC,
    "tr": TR,
    "cut": CUT,
    "head": HEAD,
    "tail": TAIL,
    "grep": GREP,
    "cat": CAT,
    "sleep": SLEEP,
}
