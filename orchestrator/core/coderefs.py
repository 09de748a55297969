"""References to pushed code in a spec's ``function`` (pure; no Django).

A user writes::

    code:<name>@<version>:<function>            code:stats@3:mean      code:stats@latest:mean
    code:<owner>/<name>@<version>:<function>    code:alice/stats@3:mean   (code shared by alice)
    code:<name>@sha256:<hex prefix>:<function>  code:stats@sha256:9f86d081884c:mean

``<function>`` is a dotted path inside the module or package (``stages.fit`` in a wheel's package).
At submission every reference is *pinned* (``service.pin``) to its exact content::

    code:<name>@sha256:<64 hex>:<function>

which is what the stored spec, the workers and the metrics see: a run always runs the code it was
submitted with, whatever is pushed later, and two versions are two different functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

PREFIX = "code:"
MAX_FUNCTION_CHARS = 100
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_REF = re.compile(
    rf"^code:(?:(?P<owner>[\w.@+-]{{1,150}})/)?(?P<name>{_IDENT})"
    rf"@(?P<version>latest|[0-9]{{1,9}}|sha256:[0-9a-f]{{8,64}})"
    rf":(?P<function>{_IDENT}(?:\.{_IDENT})*)$"
)


class RefError(ValueError):
    pass


@dataclass(frozen=True)
class CodeRef:
    name: str
    function: str
    owner: str | None = None
    version: int | None = None  # a version number, or
    sha_prefix: str | None = None  # a hash (prefix, or all 64 hex digits when pinned), or neither: latest

    @property
    def pinned(self) -> bool:
        return self.owner is None and self.sha_prefix is not None and len(self.sha_prefix) == 64

    @property
    def sha256(self) -> str:
        if not self.pinned:
            raise RefError(f"{self} is not pinned to a hash")
        return cast(str, self.sha_prefix)  # pinned: a full hash

    @property
    def module(self) -> str:
        """The module holding the function, relative to the pushed code's top (``name`` or ``name.sub``)."""
        head, _, _ = self.function.rpartition(".")
        return f"{self.name}.{head}" if head else self.name

    @property
    def attr(self) -> str:
        return self.function.rpartition(".")[2]

    def __str__(self) -> str:
        who = f"{self.owner}/" if self.owner else ""
        version = (
            "latest"
            if self.version is None and self.sha_prefix is None
            else str(self.version)
            if self.version is not None
            else f"sha256:{self.sha_prefix}"
        )
        return f"{PREFIX}{who}{self.name}@{version}:{self.function}"


def is_ref(path: object) -> bool:
    return isinstance(path, str) and path.startswith(PREFIX)


def parse(path: str) -> CodeRef:
    m = _REF.match(path) if isinstance(path, str) else None
    if m is None:
        raise RefError(
            f"function {path!r} is not a reference to pushed code: write code:<name>@<version>:<function> "
            "(version: a number, latest, or sha256:<hex>; code shared by another user: code:<owner>/<name>@…)"
        )
    if len(m["function"]) > MAX_FUNCTION_CHARS:
        raise RefError(f"function {path!r}: the function path is longer than {MAX_FUNCTION_CHARS} characters")
    if any(part.startswith("__") for part in m["function"].split(".")):
        raise RefError(f"function {path!r}: {m['function']!r} is not a task function (a dunder name)")
    version = m["version"]
    return CodeRef(
        name=m["name"],
        function=m["function"],
        owner=m["owner"],
        version=int(version) if version.isdigit() else None,
        sha_prefix=version[len("sha256:") :] if version.startswith("sha256:") else None,
    )


def pinned(name: str, sha256: str, function: str) -> str:
    return f"{PREFIX}{name}@sha256:{sha256}:{function}"
