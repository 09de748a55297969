"""What a pushed file must be (orchestrator.core.codechecks) and the reference syntax (refs): malicious
wheels are refused naming the problem, before anything is stored or unpacked."""

import io
import zipfile

import pytest

from orchestrator.core import codechecks as checks, coderefs as refs
from orchestrator.core.codechecks import CodeError
from tests.codefiles import module, wheel

MB = 1024 * 1024


def _files(data, limit=16 * MB):
    return checks.wheel_files(data, 1 * MB, limit)


def test_a_pure_python_wheel_gives_its_members_and_its_only_package():
    data = wheel({"stats/__init__.py": "from .core import mean\n", "stats/core.py": "def mean(x): return x\n"})
    files = _files(data)
    assert set(files) >= {"stats/__init__.py", "stats/core.py"}
    assert checks.wheel_name(files, None) == "stats"
    with pytest.raises(CodeError, match=r"no top-level package or module 'other' \(it has stats\)"):
        checks.wheel_name(files, "other")


@pytest.mark.parametrize(
    "member, message",
    [
        ("../evil.py", r"'\.\./evil\.py' leaves its directory"),
        ("stats/../../evil.py", r"leaves its directory"),
        ("/etc/cron.d/evil", r"'/etc/cron\.d/evil' is an absolute path"),
        ("C:/evil.py", r"is an absolute path"),
        ("stats\\..\\evil.py", r"has a NUL or a backslash"),
        ("stats//x.py", r"leaves its directory"),
    ],
)
def test_members_that_would_leave_their_directory_are_refused_naming_them(member, message):
    data = wheel({"stats/__init__.py": "", member: "x = 1\n"})
    with pytest.raises(CodeError, match=message):
        _files(data)


def test_a_symlink_member_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("stats/link")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
        z.writestr("stats/__init__.py", "")
        z.writestr("stats-1.0.dist-info/WHEEL", "Root-Is-Purelib: true\n")
    with pytest.raises(CodeError, match=r"'stats/link' is a symbolic link"):
        _files(buf.getvalue())


def test_a_zip_bomb_is_refused_while_reading_even_when_its_header_lies():
    bomb = wheel({"stats/__init__.py": "", "stats/big.txt": b"\0" * (4 * MB)})
    assert len(bomb) < 64 * 1024  # compresses ~1000×
    with pytest.raises(
        CodeError,
        match=r"unpacks to \d+ bytes, more than the limit of 1048576 "
        r"\(SLAFLOW_CODE_MAX_UNPACKED_BYTES\)",
    ):
        _files(bomb, limit=1 * MB)
    # the same bomb with its declared size rewritten small: counted while decompressing, still refused
    liar = bytearray(bomb)
    i = liar.find(b"PK\x01\x02", 0)
    while i != -1:  # central directory entries: uncompressed size at offset 24
        name_len = int.from_bytes(liar[i + 28 : i + 30], "little")
        if liar[i + 46 : i + 46 + name_len] == b"stats/big.txt":
            liar[i + 24 : i + 28] = (100).to_bytes(4, "little")
        i = liar.find(b"PK\x01\x02", i + 4)
    with pytest.raises(CodeError, match=r"(takes its unpacked size past the limit|cannot be read)"):
        _files(bytes(liar), limit=1 * MB)


def test_too_many_members_and_too_big_uploads_are_refused_naming_the_limit():
    many = wheel({f"stats/m{i}.py": "" for i in range(checks.MAX_MEMBERS + 1)})
    with pytest.raises(CodeError, match=rf"more than the limit of {checks.MAX_MEMBERS}"):
        checks.wheel_files(many, 10 * MB, 16 * MB)
    with pytest.raises(CodeError, match=r"more than the limit of 10 \(SLAFLOW_CODE_MAX_BYTES\)"):
        checks.module_files(module(1), "m", 10)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"PK\x03\x04 not really a zip", r"not a valid zip archive"),
        (b"garbage", r"not a valid zip archive"),
    ],
)
def test_a_bad_zip_is_refused(data, message):
    with pytest.raises(CodeError, match=message):
        _files(data)


def test_a_zip_that_is_no_pure_python_wheel_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("stats/__init__.py", "")
    with pytest.raises(CodeError, match=r"not a wheel: it needs exactly one \*\.dist-info/WHEEL"):
        _files(buf.getvalue())
    with pytest.raises(CodeError, match=r"only pure-Python wheels"):
        _files(wheel({"stats/__init__.py": ""}, meta="Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"))
    with pytest.raises(CodeError, match=r"'pkg-1\.0\.data/scripts/x' is in a \.data directory"):
        _files(wheel({"stats/__init__.py": "", "pkg-1.0.data/scripts/x": "#!/bin/sh\n"}))


def test_source_that_does_not_compile_is_refused_naming_file_and_line():
    with pytest.raises(CodeError, match=r"stats/core\.py line 2 does not compile"):
        _files(wheel({"stats/__init__.py": "", "stats/core.py": "x = 1\ndef (:\n"}))
    with pytest.raises(CodeError, match=r"m\.py is not UTF-8"):
        checks.module_files(b"x = '\xff'\n", "m", MB)


@pytest.mark.parametrize(
    "name, message",
    [
        ("os", r"standard library"),
        ("json", r"standard library"),
        ("numpy", r"already an importable module"),
        ("orchestrator", r"already an importable module"),
        ("experiments", r"already an importable module"),
        ("slaflow_pushed", r"slaflow keeps for itself"),
        ("1abc", r"not a Python module name"),
        ("a-b", r"not a Python module name"),
        ("class", r"not a Python module name"),
        ("ünï", r"not a Python module name"),
        ("x" * 65, r"longer than 64"),
    ],
)
def test_names_that_would_shadow_or_are_not_identifiers_are_refused(name, message):
    with pytest.raises(CodeError, match=message) as err:
        checks.check_name(name)
    assert err.value.field == "name"


def test_references_parse_and_pin():
    ref = refs.parse("code:stats@3:core.mean")
    assert (ref.name, ref.version, ref.function, ref.module, ref.attr) == (
        "stats",
        3,
        "core.mean",
        "stats.core",
        "mean",
    )
    assert refs.parse("code:alice@example.com/stats@latest:mean").owner == "alice@example.com"
    assert refs.parse("code:stats@sha256:9f86d081:mean").sha_prefix == "9f86d081"
    pinned = refs.pinned("stats", "a" * 64, "mean")
    assert refs.parse(pinned).pinned and refs.parse(pinned).sha256 == "a" * 64
    for bad in (
        "code:stats:mean",
        "code:stats@3:__import__",
        "code:stats@3:a..b",
        "code:a/b/x@1:f",
        "code:stats@sha256:abc:f",
        "code:stats@3:os.system;",
    ):
        with pytest.raises(refs.RefError):
            refs.parse(bad)
