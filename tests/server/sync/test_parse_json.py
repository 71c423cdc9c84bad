"""A push body is read by orjson where it reads exactly what the standard library reads; every
other body takes the standard library's reading, its errors and reasons included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.errors import ValidationFailed
from server.sync.http import parse_json, read_json


def _outcome(read: Any, data: bytes) -> tuple[str, str]:
    """What a reader makes of ``data``: its value, or its error."""
    try:
        return "value", repr(read(data))  # repr tells 1 from 1.0 from True; dicts keep order
    except ValidationFailed as exc:
        return "error", repr(exc.body())


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**66)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)

EDGES = [
    b"",
    b"{}",
    b'{"a": 1, "a": 2}',
    b"123456789012345678",
    b"1234567890123456789",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"123456789012345678901234567890",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"0.1",
    b"-0",
    b"-0.0",
    b"1E5",
    b"5e-324",
    b"1.7976931348623157e308",
    b"NaN",
    b"[Infinity]",
    b"-Infinity",
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b'"\\ud83d\\ude00"',
    b'"\\u0000"',
    b'"a\x00b"',
    b'"\x1f"',
    b'"\x7f"',
    b"\xef\xbb\xbf{}",
    '{"a": 1}'.encode("utf-16"),
    '{"a": 1}'.encode("utf-16-le"),
    '{"a": 1}'.encode("utf-32"),
    b'"\xff"',
    b'"\xed\xa0\x80"',
    b"[1,]",
    b"01",
    b"{'a': 1}",
    b'{"a":1}\x00',
    b" \t\r\n[] \n",
    b"[" * 1100 + b"]" * 1100,
    b"[" * 500 + b"]" * 500,
    b'{"protocol": 1' + b"0" * 5000 + b"}",
]


@pytest.mark.parametrize("data", EDGES)
def test_edge_cases_read_as_the_standard_library_reads_them(data: bytes) -> None:
    assert _outcome(parse_json, data) == _outcome(read_json, data)


@settings(max_examples=400, deadline=None)
@given(document=_documents, compact=st.booleans())
def test_any_document_reads_as_the_standard_library_reads_it(document: Any, compact: bool) -> None:
    text = json.dumps(document, separators=(",", ":") if compact else None, ensure_ascii=False)
    data = text.encode("utf-8", "surrogatepass")
    assert _outcome(parse_json, data) == _outcome(read_json, data)


@settings(max_examples=400, deadline=None)
@given(document=_documents, cut=st.integers(0, 60), junk=st.binary(max_size=3))
@example(document={"n": 1}, cut=5, junk=b"9" * 3)
def test_damaged_documents_read_as_the_standard_library_reads_them(
    document: Any, cut: int, junk: bytes
) -> None:
    data = json.dumps(document).encode("utf-8", "surrogatepass")
    data = data[:cut] + junk + data[cut:]
    assert _outcome(parse_json, data) == _outcome(read_json, data)


def test_a_big_integer_stays_an_integer() -> None:
    assert parse_json(b'{"count": 123456789012345678901234567890}') == {
        "count": 123456789012345678901234567890
    }
