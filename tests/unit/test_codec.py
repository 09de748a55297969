import numpy as np
import pytest

from orchestrator import codec


@pytest.mark.parametrize("value", [
    None, 1, 2.5, "x", True, [1, [2]], {"a": 1}, (1, 2), {1: "int key"}, b"\x00\x01", {"ref": "looks-like-ref"},
    {"__sf__": "spoof"}, float("inf"),
])
def test_round_trip(value):
    assert codec.loads(codec.dumps(value)) == value


def test_numpy_round_trip_fast_path_and_nested():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    raw = codec.dumps(a)
    assert raw.startswith(b"\x93NUMPY")
    np.testing.assert_array_equal(codec.loads(raw), a)
    nested = codec.loads(codec.dumps({"m": a, "n": np.int64(3)}))
    np.testing.assert_array_equal(nested["m"], a)
    assert nested["n"] == 3


def test_rejects_unknown_types_naming_them():
    with pytest.raises(codec.CodecError, match=r"output of x.*builtins.object"):
        codec.dumps(object(), where="output of x")
    with pytest.raises(codec.CodecError, match="dtype=object"):
        codec.dumps(np.array([object()]))


def test_describe_and_plain_json():
    assert codec.describe(np.zeros((2, 3)))["shape"] == [2, 3]
    assert codec.is_plain_json({"a": [1, 2]})
    assert not codec.is_plain_json((1, 2))
