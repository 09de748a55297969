"""Pushed-code fixtures for tests: modules and wheels built in memory (real zip archives)."""

from __future__ import annotations

import io
import zipfile

WHEEL_META = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def wheel(
    members: dict[str, bytes | str], *, dist: str = "pkg-1.0", meta: str = WHEEL_META, compression=zipfile.ZIP_DEFLATED
) -> bytes:
    """A wheel holding ``members`` and its ``<dist>.dist-info/WHEEL``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for path, content in members.items():
            z.writestr(path, content)
        z.writestr(f"{dist}.dist-info/WHEEL", meta)
        z.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {dist.split('-')[0]}\n")
    return buf.getvalue()


def module(version: int, extra: str = "") -> bytes:
    """A workflow module whose functions say which version they are."""
    return (
        f"VERSION = {version}\n\n"
        f"def scale(x):\n    return x * {version}\n\n"
        f"def tag(x):\n    return 'v{version}:' + str(x)\n{extra}"
    ).encode()
