"""What a pushed file must be, checked before anything is stored and again by the loader (pure; no Django).

A **module**: one UTF-8 ``.py`` file that compiles. A **wheel**: a real zip archive of a pure-Python wheel
(``*.dist-info/WHEEL`` saying ``Root-Is-Purelib: true``) whose members all have plain relative names (no
absolute path, ``..``, backslash, drive, NUL, symlink or duplicate), at most ``MAX_MEMBERS`` of them,
together at most the unpacked limit — counted while reading, not trusted from the archive's header —
and whose ``.py`` members compile. Nothing is executed and nothing is written to disk here.

A pushed name is a Python identifier that names nothing importable already (the standard library,
installed packages, slaflow's own packages): a task's code never looks like, or hides, other code.
"""

from __future__ import annotations

import importlib.util
import io
import keyword
import re
import stat
import sys
import zipfile

MAX_MEMBERS = 2000
MAX_NAME_CHARS = 64
_CHUNK = 64 * 1024
_DIST_INFO = re.compile(r"^[A-Za-z0-9_.+-]+\.dist-info$")
RESERVED_PREFIXES = ("slaflow",)  # slaflow_pushed holds the imported code


class CodeError(ValueError):
    """A pushed file or name refused; ``field`` is the request field it names."""

    def __init__(self, message: str, field: str = "file"):
        super().__init__(message)
        self.field = field


def kind_of(filename: str, data: bytes) -> str:
    """``module`` or ``wheel``, by the file name (``.py`` / ``.whl``)."""
    lower = (filename or "").lower()
    if lower.endswith(".whl"):
        return "wheel"
    if lower.endswith(".py"):
        return "module"
    raise CodeError(f"{filename!r} is neither a Python module (.py) nor a wheel (.whl)")


def check_name(name: str) -> str:
    """``name`` if it may be pushed: an identifier that shadows no standard, installed or slaflow module."""
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii() or keyword.iskeyword(name):
        raise CodeError(
            f"name {name!r} is not a Python module name (ASCII letters, digits and _; "
            "not starting with a digit; not a keyword)",
            "name",
        )
    if len(name) > MAX_NAME_CHARS:
        raise CodeError(f"name {name!r} is longer than {MAX_NAME_CHARS} characters", "name")
    if name in sys.stdlib_module_names or name in sys.builtin_module_names:
        raise CodeError(f"name {name!r} is a module of Python's standard library: choose another name", "name")
    if name.lower().startswith(RESERVED_PREFIXES):
        raise CodeError(f"name {name!r} starts with 'slaflow', which slaflow keeps for itself", "name")
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = True
    if found:
        raise CodeError(
            f"name {name!r} is already an importable module here (installed or slaflow's own): "
            "choose a name that shadows nothing",
            "name",
        )
    return name


def module_files(data: bytes, name: str, max_bytes: int) -> dict[str, bytes]:
    """A pushed module as the one file it is (``{"<name>.py": data}``), checked."""
    _check_size(data, max_bytes)
    _compiles(data, f"{name}.py")
    return {f"{name}.py": bytes(data)}


def wheel_files(data: bytes, max_bytes: int, max_unpacked: int, *, compiles: bool = True) -> dict[str, bytes]:
    """Every member of a pushed wheel (path → bytes), checked; directories left out. ``compiles=False``
    leaves out compiling each ``.py`` to check it (the loader: it compiles them anyway)."""
    _check_size(data, max_bytes)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CodeError(f"the wheel is not a valid zip archive ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise CodeError(f"the wheel has {len(infos)} members, more than the limit of {MAX_MEMBERS}")
        declared = sum(i.file_size for i in infos)
        if declared > max_unpacked:
            raise CodeError(
                f"the wheel unpacks to {declared} bytes, more than the limit of {max_unpacked} "
                "(SLAFLOW_CODE_MAX_UNPACKED_BYTES)"
            )
        files: dict[str, bytes] = {}
        total = 0
        for info in infos:
            path = check_member_name(info)
            if info.is_dir():
                continue
            if path in files:
                raise CodeError(f"the wheel holds {path!r} twice")
            content, total = _read_bounded(archive, info, total, max_unpacked)
            files[path] = content
    _check_wheel_layout(files)
    for path, content in files.items():
        if compiles and path.endswith(".py"):
            _compiles(content, path)
    return files


def top_level_names(files: dict[str, bytes]) -> list[str]:
    """The importable top-level names of a wheel's files (packages and modules; metadata left out)."""
    names = set()
    for path in files:
        head = path.split("/", 1)[0]
        if _DIST_INFO.match(head):
            continue
        if "/" in path:
            names.add(head)
        elif path.endswith(".py"):
            names.add(path[:-3])
    return sorted(names)


def wheel_name(files: dict[str, bytes], name: str | None) -> str:
    """The name the wheel is pushed as: ``name`` if it is one of its top-level packages or modules, else
    its only one."""
    tops = top_level_names(files)
    for top in tops:
        if not top.isidentifier():
            raise CodeError(f"the wheel's top-level {top!r} is not an importable Python name")
    if name is None:
        if len(tops) != 1:
            raise CodeError(
                f"the wheel has {len(tops)} top-level packages or modules "
                f"({', '.join(tops) or 'none'}): say which one with a name",
                "name",
            )
        return tops[0]
    if name not in tops:
        raise CodeError(
            f"the wheel has no top-level package or module {name!r} (it has {', '.join(tops) or 'none'})", "name"
        )
    return name


def check_member_name(info: zipfile.ZipInfo) -> str:
    """A member's name if it is a plain relative path (what extracting it anywhere would keep inside)."""
    raw = info.filename
    shown = repr(raw)
    if not raw or "\x00" in raw or "\\" in raw:
        raise CodeError(f"the wheel's member {shown} has a NUL or a backslash in its name")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise CodeError(f"the wheel's member {shown} is an absolute path")
    parts = raw.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise CodeError(f"the wheel's member {shown} leaves its directory (an empty, '.' or '..' part)")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise CodeError(f"the wheel's member {shown} is a symbolic link")
    return raw.rstrip("/") if info.is_dir() else raw


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, limit: int) -> tuple[bytes, int]:
    """A member's bytes, counting what decompression really yields (a lying header cannot pass the limit)."""
    out = io.BytesIO()
    try:
        with archive.open(info) as stream:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise CodeError(
                        f"the wheel's member {info.filename!r} takes its unpacked size past the limit "
                        f"of {limit} bytes (SLAFLOW_CODE_MAX_UNPACKED_BYTES)"
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise CodeError(f"the wheel's member {info.filename!r} cannot be read ({exc})") from None
    return out.getvalue(), total


def _check_wheel_layout(files: dict[str, bytes]) -> None:
    metadata = [p for p in files if p.count("/") == 1 and _DIST_INFO.match(p.split("/")[0]) and p.endswith("/WHEEL")]
    if len(metadata) != 1:
        raise CodeError("the file is a zip archive but not a wheel: it needs exactly one *.dist-info/WHEEL")
    wheel = files[metadata[0]].decode("utf-8", "replace")
    if not re.search(r"^Root-Is-Purelib:\s*true\s*$", wheel, re.MULTILINE | re.IGNORECASE):
        raise CodeError("only pure-Python wheels may be pushed (its WHEEL says no 'Root-Is-Purelib: true')")
    for path in files:
        head = path.split("/", 1)[0]
        if head.endswith(".data"):
            raise CodeError(
                f"the wheel's member {path!r} is in a .data directory (scripts, headers, data): "
                "only packages and modules may be pushed"
            )


def _check_size(data: bytes, max_bytes: int) -> None:
    if len(data) == 0:
        raise CodeError("the file is empty")
    if len(data) > max_bytes:
        raise CodeError(f"the file is {len(data)} bytes, more than the limit of {max_bytes} (SLAFLOW_CODE_MAX_BYTES)")


def _compiles(data: bytes, path: str) -> None:
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodeError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        lineno = getattr(exc, "lineno", None)
        where = f" line {lineno}" if lineno else ""
        raise CodeError(f"{path}{where} does not compile: {getattr(exc, 'msg', exc)}") from None
    except (RecursionError, MemoryError):
        raise CodeError(f"{path} does not compile: it nests too deeply") from None
