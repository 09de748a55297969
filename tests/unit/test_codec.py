import numpy as np
import pytest

from orchestrator.core import codec


@pytest.mark.parametrize(
    "value",
    [
        None,
        1,
        2.5,
        "x",
        True,
        [1, [2]],
        {"a": 1},
        (1, 2),
        {1: "int key"},
        b"\x00\x01",
        {"ref": "looks-like-ref"},
        {"__sf__": "spoof"},
        float("inf"),
    ],
)
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


def test_arrays_round_trip_writeable_whatever_their_layout():
    import io

    for a in [
        np.random.default_rng(1).random((64, 32)),
        np.arange(10),
        np.array(3.0),
        np.asfortranarray(np.ones((3, 4))),
        np.ones((5, 6))[:, ::2],
        np.array([], dtype=np.int8),
        np.zeros((0, 3)),
        np.array(["ab", "c"]),
        np.array([1 + 2j]),
        np.zeros((2, 3), dtype=">i4"),
    ]:
        raw = codec.dumps(a)
        b = codec.loads(raw)
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)
        assert b.flags.writeable  # tasks may change their inputs in place
        assert np.array_equal(np.load(io.BytesIO(raw), allow_pickle=False), a)  # still standard .npy


def test_stored_form_is_the_value_as_npy_bytes_or_json_without_decoding():
    import io
    import json

    array = np.arange(12.0).reshape(3, 4)
    form, body = codec.stored_form(codec.dumps(array))
    assert form == "npy" and np.array_equal(np.load(io.BytesIO(bytes(body)), allow_pickle=False), array)
    assert codec.stored_form(codec.dumps(b"\x93NUMPY not an array")) == ("bytes", memoryview(b"\x93NUMPY not an array"))
    plain = {"a": [1, "__sf__", None], "b": {"c": 1.5}}
    form, body = codec.stored_form(memoryview(codec.dumps(plain)))
    assert form == "json" and json.loads(bytes(body)) == plain and codec.not_plain_json(body) is None


def test_not_plain_json_names_the_first_tagged_value_and_where():
    for value, where in [
        ((1, 2), "a tuple at value"),
        ([0, {"x": np.zeros(2)}], "a numpy array at value[1]['x']"),
        ({"ok": [1.0, float("inf")]}, "a non-finite float at value['ok'][1]"),
        ({"k": b"raw"}, "bytes at value['k']"),
        ({(1, 2): 3}, "a dict with keys JSON cannot hold at value"),
        ({"__sf__": 1}, "a dict with keys JSON cannot hold at value"),
    ]:
        assert codec.not_plain_json(codec.stored_form(codec.dumps(value))[1]) == where


def test_an_array_is_encoded_as_its_header_and_its_own_data_never_copied():
    a = np.random.default_rng(2).standard_normal((256, 128))
    enc = codec.encode(a)
    head, body = enc.parts
    assert np.shares_memory(np.frombuffer(body, dtype=a.dtype), a)  # the array's buffer itself, no copy
    assert len(enc) == enc.size == len(head) + a.nbytes
    assert enc.tobytes() == codec.dumps(a) == b"".join(enc.parts) and bytes(enc) is enc.tobytes()  # joined once
    np.testing.assert_array_equal(codec.loads(enc.tobytes()), a)
    frozen = enc.frozen()
    a[0, 0] = 42.0  # a later change reaches the parts (they are the array), never a frozen copy
    assert codec.loads(b"".join(enc.parts))[0, 0] == 42.0
    assert codec.loads(frozen.tobytes())[0, 0] != 42.0


@pytest.mark.parametrize(
    "value",
    [np.ones((5, 6))[:, ::2], np.asfortranarray(np.ones((3, 4))), np.array(3.0), np.zeros((0, 3)), b"", b"abc"],
)
def test_every_encoded_form_joins_to_what_dumps_gives(value):
    enc = codec.encode(value)
    assert enc.tobytes() == codec.dumps(value) and enc.size == len(codec.dumps(value))
    got = codec.loads(enc.tobytes())
    assert np.array_equal(got, value) if isinstance(value, np.ndarray) else got == value


def test_an_unstorable_output_is_refused_when_encoded_not_later():
    with pytest.raises(codec.CodecError, match="output of y"):
        codec.encode({"s": {1, 2}}, where="output of y")
    with pytest.raises(codec.CodecError, match="dtype=object"):
        codec.encode(np.array([object()]))
