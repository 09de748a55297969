"""The worker's loader of pushed code (workers.codeloader) on its disk cache: bytes verified by their
hash, compiled code trusted only under this deployment's signature, two versions side by side."""

import hashlib
import marshal
import os

import pytest

from tests.codefiles import module, wheel
from workers import codeloader as loader


@pytest.fixture
def cache(settings, tmp_path):
    settings.SLAFLOW_CODE_CACHE_DIR = str(tmp_path / "cache")
    planted = []

    def plant(data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        loader.forget(sha)  # an earlier test in this process may have imported the same content
        os.makedirs(os.path.dirname(loader.blob_path(sha)), exist_ok=True)
        with open(loader.blob_path(sha), "wb") as f:
            f.write(data)
        planted.append(sha)
        return sha

    yield plant
    for sha in planted:
        loader.forget(sha)


def test_compiled_code_is_cached_signed_and_a_tampered_or_foreign_file_is_ignored(cache, settings):
    sha = cache(module(1))
    ref = f"code:calc@sha256:{sha}:tag"
    before = loader.stats()
    assert loader.resolve(ref)("x") == "v1:x"
    assert loader.stats()["compiled"] == before["compiled"] + 1 and os.path.exists(loader.bytecode_path(sha))

    loader.forget(sha)  # a new process on this machine: the compiled code is loaded, not compiled
    assert loader.resolve(ref)("x") == "v1:x"
    assert loader.stats()["bytecode_cached"] == before["bytecode_cached"] + 1

    # code objects that say something else, unsigned (or signed with another key): ignored, compiled again
    evil = marshal.dumps({"": compile("def tag(x):\n    return 'EVIL'\n", "evil.py", "exec")})
    for mac in (b"\0" * 32, _mac_with_key("another-deployment-key", sha, evil, settings)):
        with open(loader.bytecode_path(sha), "wb") as f:
            f.write(mac + evil)
        loader.forget(sha)
        refused = loader.stats()["bytecode_refused"]
        assert loader.resolve(ref)("x") == "v1:x"
        assert loader.stats()["bytecode_refused"] == refused + 1


def _mac_with_key(key: str, sha: str, payload: bytes, settings) -> bytes:
    own = settings.SECRET_KEY
    settings.SECRET_KEY = key
    try:
        return loader._mac(sha, payload)
    finally:
        settings.SECRET_KEY = own


def test_a_cache_file_not_matching_its_hash_is_never_imported(cache):
    sha = cache(module(2))
    with open(loader.blob_path(sha), "wb") as f:
        f.write(b"def tag(x):\n    return 'TAMPERED'\n")
    # no database here: the tampered file is dropped and the fetch is attempted (and fails loudly)
    with pytest.raises(Exception) as err:
        loader.resolve(f"code:calc@sha256:{sha}:tag")
    assert "TAMPERED" not in str(err.value)
    assert loader.stats()["refetched"] >= 1 and sha not in loader.loaded()


def test_two_versions_and_a_wheel_live_side_by_side(cache):
    one, two = cache(module(1)), cache(module(2))
    pkg = cache(
        wheel(
            {
                "geom/__init__.py": "from .shapes import area\n",
                "geom/shapes.py": "from . import units\n\ndef area(w, h):\n    return units.K * w * h\n",
                "geom/units.py": "K = 10\n",
            }
        )
    )
    f1 = loader.resolve(f"code:calc@sha256:{one}:scale")
    f2 = loader.resolve(f"code:calc@sha256:{two}:scale")
    area = loader.resolve(f"code:geom@sha256:{pkg}:shapes.area")
    assert (f1(3), f2(3), area(2, 3)) == (3, 6, 60)
    assert f1.__module__ != f2.__module__
