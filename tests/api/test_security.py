"""The endpoint's defences: with [management] token_file set, every change
needs "Authorization: Bearer TOKEN" (the token is read again on reload);
request bodies over 64 KiB are refused with 413. Refused requests change
nothing."""

import json
import socket

import pytest

from harness.apitest import config, dplb_at, ok, state_of

LIMIT = 64 * 1024
TOKEN = "s3cret-Token_1"


def with_token(tmp_path, token=TOKEN + "\n"):
    path = tmp_path / "token"
    path.write_text(token)
    return config(management=f"token_file = {path}"), path


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


CHANGES = [
    ("POST", "/vips/web/backends", {"address": "10.0.1.9"}),
    ("PATCH", "/vips/web/backends/10.0.1.1", {"weight": 3}),
    ("DELETE", "/vips/web/backends/10.0.1.1", None),
    ("POST", "/reload", None),
]


@pytest.mark.parametrize("headers, why", [
    ({}, "changes need \"Authorization: Bearer TOKEN\""),
    (bearer("wrong"), "wrong token"),
    (bearer(TOKEN[:-1]), "wrong token"),
    (bearer(TOKEN + "x"), "wrong token"),
    (bearer(""), "wrong token"),
    ({"Authorization": f"Basic {TOKEN}"}, "Bearer TOKEN"),
    ({"Authorization": TOKEN}, "Bearer TOKEN"),
])
def test_changes_without_the_token_are_refused(tmp_path, headers, why):
    text, _ = with_token(tmp_path)
    with dplb_at(tmp_path, text) as dplb:
        before = state_of(dplb)
        for method, path, body in CHANGES:
            status, answer_headers, answer = dplb.http(method, path, body, headers)
            assert status == 401, (method, path, answer)
            assert answer_headers["www-authenticate"] == 'Bearer realm="dplb"'
            assert why in answer["error"]
        assert state_of(dplb) == before
        stats = dplb.stats()
        assert stats["generation"] == 1 and stats["reloads_ok"] == 0
        # Reading needs no token.
        for path in ("/healthz", "/stats", "/metrics", "/vips", "/vips/web",
                     "/vips/web/lookup?src=172.16.0.1&sport=1"):
            assert dplb.http("GET", path, headers=headers)[0] == 200, path


def test_the_token_allows_changes_and_is_read_again_on_reload(tmp_path):
    text, path = with_token(tmp_path)
    with dplb_at(tmp_path, text) as dplb:
        ok(dplb, "POST", "/vips/web/backends", {"address": "10.0.1.9"}, bearer(TOKEN), 201)
        # The scheme is case-insensitive, blanks around the token are not part of it.
        ok(dplb, "PATCH", "/vips/web/backends/10.0.1.9", {"weight": 2},
           {"Authorization": f"bearer   {TOKEN} "})

        # POST /reload re-reads the file and the token.
        path.write_text("second-token")
        ok(dplb, "POST", "/reload", headers=bearer(TOKEN))
        assert dplb.http("DELETE", "/vips/web/backends/10.0.1.1", None, bearer(TOKEN))[0] == 401
        ok(dplb, "DELETE", "/vips/web/backends/10.0.1.1", headers=bearer("second-token"))

        # So does SIGHUP.
        path.write_text("third-token\r\n")
        dplb.reload()
        assert dplb.http("DELETE", "/vips/web/backends/10.0.1.3", None,
                         bearer("second-token"))[0] == 401
        ok(dplb, "DELETE", "/vips/web/backends/10.0.1.3", headers=bearer("third-token"))


def test_an_empty_token_file_refuses_every_change(tmp_path):
    text, _ = with_token(tmp_path, token="\n")
    with dplb_at(tmp_path, text) as dplb:
        for headers in ({}, bearer(""), bearer("x")):
            status, _, answer = dplb.http("POST", "/reload", headers=headers)
            assert status == 401, answer
    assert "empty" in dplb.stderr


def raw_request(port, head, body=b"", read_before_body=False):
    """Send a request by hand; returns (status, headers, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        if not read_before_body:
            sock.sendall(body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        head_part, rest = data.split(b"\r\n\r\n", 1)
        lines = head_part.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        length = int(headers.get("Content-Length", 0))
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk
            rest += chunk
        return int(lines[0].split()[1]), headers, json.loads(rest)


def padded_backend(size):
    """A valid add-backend body of exactly size bytes (JSON allows blanks)."""
    body = json.dumps({"address": "10.0.1.9"})
    return body[:-1] + " " * (size - len(body)) + "}"


def test_bodies_up_to_the_limit_are_read(tmp_path):
    with dplb_at(tmp_path) as dplb:
        body = padded_backend(LIMIT)
        assert len(body) == LIMIT
        ok(dplb, "POST", "/vips/web/backends", body, status=201)


def test_bodies_over_the_limit_get_413_and_change_nothing(tmp_path):
    with dplb_at(tmp_path) as dplb:
        before = state_of(dplb)
        # Declared length one byte too big.
        status, _, answer = dplb.http("POST", "/vips/web/backends", padded_backend(LIMIT + 1))
        assert status == 413 and answer["error"] == "request body over 65536 bytes"
        # Chunked, so no length is declared: counted as it arrives.
        body = padded_backend(LIMIT + 1000).encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 4096]), body[i:i + 4096])
                          for i in range(0, len(body), 4096)) + b"0\r\n\r\n"
        status, _, answer = raw_request(
            dplb.http_port, "POST /vips/web/backends HTTP/1.1\r\nHost: x\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", chunks)
        assert status == 413 and "over 65536 bytes" in answer["error"]
        # A client that waits for "100 Continue" is answered before sending.
        status, _, answer = raw_request(
            dplb.http_port, "PATCH /vips/web/backends/10.0.1.1 HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {10 * LIMIT}\r\nExpect: 100-continue\r\n\r\n",
            read_before_body=True)
        assert status == 413
        # So is one that announces more than is worth reading.
        status, _, answer = raw_request(
            dplb.http_port, "POST /reload HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 1000000000\r\n\r\n", read_before_body=True)
        assert status == 413
        assert state_of(dplb) == before
        assert dplb.stats()["reloads_ok"] == 0
        # The endpoint is still there.
        assert ok(dplb, "GET", "/healthz")["status"] == "ok"
