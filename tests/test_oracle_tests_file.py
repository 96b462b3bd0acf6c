"""Tests files (JSON Lines): what they accept, and one clear line for everything they reject."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jeet.oracle import Case, OracleError, dump_tests, load_tests, parse_tests
from jeet.oracle.tests_file import TestCases


def write(tmp_path, *lines: str):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_basic_file(tmp_path):
    path = write(tmp_path,
                 '{"args": [3, -1], "expect": [2]}',
                 '',
                 '{"args": [1, 0], "trap": true}',
                 '{"args": [4294967295, 0], "expect": [-1], "name": "wraps", "comment": "unsigned input"}')
    cases = load_tests(path, ("i32", "i32"), ("i32",))
    assert isinstance(cases, TestCases)
    assert cases == [Case((3, 0xFFFFFFFF), (2,)), Case((1, 0), None, (), True),
                     Case((0xFFFFFFFF, 0), (0xFFFFFFFF,))]
    assert cases.lines == [1, 3, 4]
    assert cases.where(1) == f"{path}:3"


def test_codec_type_bytes_are_accepted_as_signature(tmp_path):
    path = write(tmp_path, '{"args": [1], "expect": [2]}')
    assert load_tests(path, (0x7E,), (0x7E,)) == [Case((1,), (2,))]


def test_floats(tmp_path):
    path = write(tmp_path,
                 '{"args": [1.5, 2], "expect": ["nan"]}',
                 '{"args": ["inf", "-inf"], "expect": ["0x7fa00001"]}',
                 '{"args": [-0.0, NaN], "expect": [0.1]}',
                 '{"args": ["-nan", "0x8000000000000000"], "expect": [1e38]}')
    cases = load_tests(path, ("f32", "f64"), ("f32",))
    assert cases[0] == Case((0x3FC00000, 0x4000000000000000), (0x7FC00000,))
    assert cases[1] == Case((0x7F800000, 0xFFF0000000000000), (0x7FA00001,))
    assert cases[2].args[0] == 0x80000000 and cases[2].expect == (0x3DCCCCCD,)
    assert cases[3].args == (0xFFC00000, 0x8000000000000000)


def test_memory_blocks(tmp_path):
    data = bytes(range(10))
    path = write(tmp_path, json.dumps({"args": [16], "memory": [[16, base64.b64encode(data).decode()]],
                                       "expect": [45], "expect_memory": [[0, "AAE="]]}))
    (case,) = load_tests(path, ("i32",), ("i32",))
    assert case.memory == ((16, data),) and case.expect_memory == ((0, b"\x00\x01"),)


def test_expect_may_be_left_out(tmp_path):
    (case,) = load_tests(write(tmp_path, '{"args": [1]}'), ("i32",), ("i32",))
    assert case.expect is None and not case.trap


@pytest.mark.parametrize("line,reason", [
    ('{"args": [1, 2', "not JSON"),
    ('[1, 2]', "expected a JSON object"),
    ('{"expect": [1]}', 'missing "args"'),
    ('{"args": [1], "expect": [1]}', "args: expected 2 values for (i32, f32), got 1"),
    ('{"args": [1, 2], "expect": [1, 2]}', "expect: expected 1 values"),
    ('{"args": [1, 2], "expext": [1]}', "unknown key 'expext'"),
    ('{"args": "12"}', "args: expected a list"),
    ('{"args": [4294967296, 1]}', "args[0]: 4294967296 is out of range for i32"),
    ('{"args": [-2147483649, 1]}', "out of range for i32"),
    ('{"args": [1.5, 1]}', "args[0]: expected an integer for i32"),
    ('{"args": [true, 1]}', "args[0]: expected a number for i32, got true"),
    ('{"args": ["one", 1]}', "expected a number for i32"),
    ('{"args": [1, "fast"]}', "args[1]: expected a number for f32"),
    ('{"args": [1, 1e39]}', "out of range for f32"),
    ('{"args": [1, "0x100000000"]}', "does not fit in 32 bits"),
    ('{"args": [1, null]}', "expected a number for f32, got null"),
    ('{"args": [1, 1], "trap": "yes"}', "trap: expected true or false"),
    ('{"args": [1, 1], "trap": true, "expect": [0]}', "a trap case cannot have"),
    ('{"args": [1, 1], "memory": [[0, "!!"]]}', "memory[0]: bad base64"),
    ('{"args": [1, 1], "memory": [[-1, "AA=="]]}', "memory[0]: offset must be an int"),
    ('{"args": [1, 1], "memory": [[0]]}', "memory[0]: expected [offset, base64]"),
    ('{"args": [1, 1], "memory": {"0": "AA=="}}', "memory: expected a list"),
    ('{"args": [1, 1], "expect_memory": [[0, 5]]}', "expect_memory[0]: expected a base64 string"),
    ('{"args": [1, 1], "poison": -3}', "poison: expected a seed"),
    ('{"args": [1, 1], "poison": "7"}', "poison: expected a seed"),
])
def test_errors_name_file_line_and_reason(tmp_path, line, reason):
    path = write(tmp_path, '{"args": [0, 0], "expect": [0]}', line)
    with pytest.raises(OracleError) as info:
        load_tests(path, ("i32", "f32"), ("i32",))
    message = str(info.value)
    assert message.startswith(f"{path}:2: "), message
    assert reason in message, message
    assert "\n" not in message


def test_empty_file(tmp_path):
    path = write(tmp_path, "", "   ")
    with pytest.raises(OracleError, match="no test cases"):
        load_tests(path, ("i32",), ("i32",))


def test_missing_file(tmp_path):
    with pytest.raises(OracleError, match="cannot read"):
        load_tests(tmp_path / "absent.jsonl", ("i32",), ("i32",))


def test_not_utf8(tmp_path):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b'{"args": [1]}\n\xff\xfe\n')
    with pytest.raises(OracleError, match="not UTF-8"):
        load_tests(path, ("i32",), ("i32",))


def test_non_numeric_signature_is_refused():
    with pytest.raises(OracleError, match="v128"):
        parse_tests(['{"args": [1]}'], ("v128",), ())


values = {
    "i32": st.integers(0, 2 ** 32 - 1), "i64": st.integers(0, 2 ** 64 - 1),
    "f32": st.integers(0, 2 ** 32 - 1), "f64": st.integers(0, 2 ** 64 - 1),
}


@st.composite
def cases(draw, params, results):
    args = tuple(draw(values[t]) for t in params)
    memory = tuple(draw(st.lists(st.tuples(st.integers(0, 2 ** 16), st.binary(max_size=12)), max_size=2)))
    if draw(st.booleans()):
        return Case(args, None, memory, True)
    expect = tuple(draw(values[t]) for t in results)
    return Case(args, expect, memory, False)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_dump_then_load_gives_the_same_cases(tmp_path_factory, data):
    params = ("i32", "i64", "f32", "f64")
    results = ("f32", "i32")
    written = data.draw(st.lists(cases(params, results), min_size=1, max_size=6))
    path = tmp_path_factory.mktemp("rt") / "t.jsonl"
    dump_tests(path, written, params, results)
    read = load_tests(path, params, results)
    assert len(read) == len(written)
    for a, b in zip(read, written):
        assert a.args == b.args and a.memory == b.memory and a.trap == b.trap
        if b.expect is not None:
            from jeet.oracle import results_equal
            assert results_equal(results, a.expect, b.expect)
