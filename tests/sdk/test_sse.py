"""The event-stream reader: however the bytes are cut into chunks, the same lines and events."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from rampgate.sdk.sse import ServerSentEvent, iter_lines, parse_events

STREAM = (
    b"retry: 1000\n\n"
    b'id: 7\nevent: ruleset\ndata: {"prompt": "caf\xc3\xa9 \xe2\x80\xa8 line"}\n\n'
    b": ping\r\n"
    b"id: 8\r\nevent: ruleset\r\ndata: a\r\ndata: b\r\n\r\n"
    b"data: lone CR\r\r"
)


def cut(data: bytes, at: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *at})
    return [data[a:b] for a, b in pairwise(points)]


def test_lines_end_at_lf_crlf_or_cr_only() -> None:
    assert list(iter_lines([STREAM])) == [
        "retry: 1000",
        "",
        "id: 7",
        "event: ruleset",
        'data: {"prompt": "café \u2028 line"}',  # U+2028 is not a line ending here
        "",
        ": ping",
        "id: 8",
        "event: ruleset",
        "data: a",
        "data: b",
        "",
        "data: lone CR",
        "",
    ]


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_any_chunking_gives_the_same_lines(at: list[int]) -> None:
    assert list(iter_lines(cut(STREAM, at))) == list(iter_lines([STREAM]))


def test_events_from_chunked_bytes() -> None:
    events = list(parse_events(iter_lines(cut(STREAM, [3, 20, 21, 60, 61, 62]))))
    assert events == [
        ServerSentEvent("ruleset", '{"prompt": "café \u2028 line"}', "7"),
        ServerSentEvent("ruleset", "a\nb", "8"),
        ServerSentEvent("message", "lone CR", "8"),
    ]


def test_an_unfinished_last_line_is_still_read_and_bad_utf8_is_replaced() -> None:
    assert list(iter_lines([b"data: x\n", b"data: \xff"])) == ["data: x", "data: \ufffd"]
