"""The Lambda deployment package: a zip of slaflow's code (and, unless told otherwise, its dependencies
for Lambda's Python runtime), built reproducibly so that the same code gives the same ``CodeSha256``
and a re-deploy of unchanged code changes nothing.

* **project** — every ``.py`` file of slaflow's packages (``PACKAGES``) and of the top-level packages
  of ``SLAFLOW_WORKFLOW_MODULES`` (the operator's workflow code), plus the templates Django loads;
* **dependencies** (``deps="pip"``) — ``pip install --target`` of slaflow's ``server`` requirements
  (``NOT_IN_LAMBDA`` left out) as wheels for ``manylinux2014_x86_64`` and the runtime's Python version
  (PyPI through pip, as configured on this machine); ``deps="none"`` leaves them to a Lambda layer (or a
  test).

Entries are sorted, dated 1980-01-01 and mode 0644, so the bytes depend on the files' contents only.
Lambda takes a zip of at most 50 MB directly (bigger ones go through S3, ``orchestrator.deploy.lambdas``)
and 250 MB unzipped: past that, deploy a container image instead (``--image-uri``; docs/howto/lambda.md).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("slaflow", "orchestrator", "store", "workers", "webui", "experiments")
DIRECT_UPLOAD_MAX = 50 * 1024 * 1024
UNZIPPED_MAX = 250 * 1024 * 1024
SKIP_DIRS = {"__pycache__", "tests", ".pytest_cache"}
KEEP_SUFFIXES = {".py", ".html", ".txt", ".json", ".css", ".js", ".svg"}
_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackageError(RuntimeError):
    pass


@dataclass(frozen=True)
class Package:
    data: bytes
    files: int
    unzipped_bytes: int
    deps: str

    @property
    def sha256(self) -> str:
        """What Lambda reports as the function's ``CodeSha256``."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()

    def describe(self) -> str:
        return (
            f"zip of {self.files} files, {len(self.data) / 1e6:.1f} MB ({self.unzipped_bytes / 1e6:.1f} MB "
            f"unzipped), dependencies: {self.deps}, sha256 {self.sha256}"
        )


def _workflow_roots(modules) -> list[Path]:
    """The top-level package (or module file) of each workflow module outside slaflow's packages."""
    roots = []
    for name in modules:
        top = name.split(".")[0]
        if top in PACKAGES:
            continue
        spec = importlib.util.find_spec(top)
        if spec is None or spec.origin is None and not spec.submodule_search_locations:
            raise PackageError(f"workflow module {name!r} (SLAFLOW_WORKFLOW_MODULES) is not importable here")
        if spec.submodule_search_locations:
            roots.append(Path(list(spec.submodule_search_locations)[0]))
        else:
            roots.append(Path(spec.origin))
    return roots


def _files_under(base: Path, root: Path) -> list[tuple[str, Path]]:
    """(name in the zip, path) of the files to ship from ``root`` (a package directory or a module file)."""
    if root.is_file():
        return [(root.name, root)]
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(base)
        if path.is_file() and path.suffix in KEEP_SUFFIXES and not SKIP_DIRS & set(rel.parts):
            out.append((rel.as_posix(), path))
    return out


# Not shipped in a function: the web UI's figures and Flower (a handler never imports them), and boto3 (Lambda's
# Python runtime has it). With them the zip is ~327 MB unzipped, past Lambda's 250 MB; without, ~230 MB.
NOT_IN_LAMBDA = ("plotly", "flower", "boto3")


def requirements(extras=("server", "aws")) -> list[str]:
    """slaflow's requirements for ``extras`` (from its installed metadata) that a function needs."""
    out = []
    for req in importlib.metadata.requires("slaflow") or []:
        spec, _, marker = req.partition(";")
        name = re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower()
        found = re.findall(r'extra\s*==\s*"([^"]+)"', marker)
        if found and any(e in extras for e in found) and name != "slaflow" and name not in NOT_IN_LAMBDA:
            out.append(spec.strip())
    return sorted(set(out))


def _pip_target(target: Path, python_version: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--target",
        str(target),
        "--platform",
        "manylinux2014_x86_64",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        *requirements(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise PackageError("installing the dependencies for the Lambda runtime failed:\n" + done.stderr[-2000:])


def build(*, deps: str = "pip", runtime: str = "python3.11", workflow_modules=()) -> Package:
    """The deployment zip (``deps``: ``pip`` to include the dependencies, ``none`` for slaflow's code only)."""
    if deps not in ("pip", "none"):
        raise PackageError(f"deps must be 'pip' or 'none', got {deps!r}")
    entries: dict[str, Path] = {}
    for pkg in PACKAGES:
        entries.update(_files_under(ROOT, ROOT / pkg))
    for root in _workflow_roots(workflow_modules):
        entries.update(_files_under(root.parent, root))
    with tempfile.TemporaryDirectory(prefix="slaflow-lambda-") as tmp:
        if deps == "pip":
            target = Path(tmp) / "deps"
            _pip_target(target, runtime.removeprefix("python"))
            for name, path in _files_under(target, target):
                entries.setdefault(name, path)
            for path in sorted(target.rglob("*")):  # compiled extensions and data files of the dependencies
                if path.is_file() and not SKIP_DIRS & set(path.relative_to(target).parts):  # their test suites too
                    entries.setdefault(path.relative_to(target).as_posix(), path)
        buf, unzipped = io.BytesIO(), 0
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for name in sorted(entries):
                body = entries[name].read_bytes()
                unzipped += len(body)
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, body)
    if unzipped > UNZIPPED_MAX:
        raise PackageError(
            f"the package is {unzipped / 1e6:.0f} MB unzipped, over Lambda's 250 MB: deploy a "
            "container image instead (--image-uri; docs/howto/lambda.md)"
        )
    return Package(buf.getvalue(), len(entries), unzipped, deps)
