"""What a request says is text (issue 13, item 6): a path or query
argument that decodes to bytes that are not UTF-8, or to a NUL, is a 400
with a JSON error (it was no answer at all, or /vips/web%00 served as
/vips/web); and an error that echoes request input cut short in the
middle of a character still answers."""

import json
import socket

import pytest

from harness.apitest import dplb_at, ok, state_of

# Decoded, an "x" then "é"s: an error that echoes it with "%.64s" (the
# 81-byte name) or "%.128s" (the path with a 141-byte segment, over the
# 128-byte limit) cuts an "é" in two.
NAME = "x" + "%C3%A9" * 40
LONG_NAME = "x" + "%C3%A9" * 70


def request(port, method, target, body=b""):
    """(status, JSON body) of one request sent as raw bytes; None when dplb
    closed the connection without an answer."""
    head = (f"{method} {target} HTTP/1.1\r\nHost: dplb\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    if not data:
        return None
    head_part, rest = data.split(b"\r\n\r\n", 1)
    return int(head_part.split()[1]), json.loads(rest)


NOT_TEXT = [
    "/vips/%ff",
    "/vips/web%00",
    "/vips/web%00/backends",
    "/vips/web/backends/10.0.1.1%00",
    "/vips/%c3",           # a character cut short
    "/vips/%c0%ae",        # overlong
    "/vips/%ed%a0%80",     # a surrogate
    "/vips/%f4%90%80%80",  # above U+10FFFF
    "/healthz%00",
    "/vips/web/lookup?src=%ff&sport=1",
    "/vips/web/lookup?src=172.16.0.1%00&sport=1",
    "/vips/web/lookup?%ff=1&src=172.16.0.1&sport=1",
]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_path_or_argument_that_is_not_text_is_a_400(tmp_path, method):
    with dplb_at(tmp_path) as dplb:
        before = state_of(dplb)
        wrong = []
        for target in NOT_TEXT:
            answer = request(dplb.http_port, method, target)
            if answer is None or answer[0] != 400 or \
                    "not UTF-8 text, or holds a NUL" not in answer[1].get("error", ""):
                wrong.append((target, answer))
        assert not wrong, wrong
        assert state_of(dplb) == before


def test_text_that_is_utf8_is_served_and_echoed(tmp_path):
    with dplb_at(tmp_path) as dplb:
        assert request(dplb.http_port, "GET", "/vips/%C3%A9t%C3%A9") == (
            404, {"error": 'no VIP named "\u00e9t\u00e9"'})
        status, body = request(dplb.http_port, "GET", "/vips/web?")
        assert status == 200 and body["name"] == "web"


def test_an_error_that_echoes_input_cut_short_still_answers(tmp_path):
    cases = [
        ("GET", f"/vips/{NAME}", b"", 404),
        ("GET", f"/vips/{LONG_NAME}", b"", 404),
        ("GET", f"/vips/web/lookup?src={NAME}&sport=1", b"", 400),
        ("POST", "/vips/web/backends",
         json.dumps({"x" + "\u00e9" * 40: 1}, ensure_ascii=False).encode(), 400),
    ]
    with dplb_at(tmp_path) as dplb:
        wrong = []
        for method, target, body, status in cases:
            answer = request(dplb.http_port, method, target, body)
            if answer is None or answer[0] != status or not answer[1].get("error"):
                wrong.append((method, target, answer))
        assert not wrong, wrong
        ok(dplb, "GET", "/healthz")
