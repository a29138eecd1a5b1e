"""Slow clients cannot lock the API out (issue 13, item 2): one address
holds at most 32 connections, so /healthz from another address answers
while one address floods dplb with connections that send a header byte
now and then; and a request must arrive whole within 10 s, so such
connections are closed even though they are never idle."""

import http.client
import select
import socket
import time

from harness.apitest import dplb_at, wait_for

PER_ADDRESS = 32
DEADLINE_SECONDS = 10
PARTIAL_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: dplb\r\nX-Slow: "


def slow_connections(port, count):
    """count connections from 127.0.0.1, each with a request begun, never ended."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            sock.sendall(PARTIAL_REQUEST)
        except OSError:
            pass  # refused at once: counted as closed below
        sockets.append(sock)
    return sockets


def closed_by_dplb(sock):
    """True once dplb has closed sock (end of stream or reset)."""
    if sock.fileno() < 0:
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(4096) == b""
    except OSError:
        return True


def dribble(sockets):
    """One more header byte on each connection still open."""
    for sock in sockets:
        if not closed_by_dplb(sock):
            try:
                sock.sendall(b"x")
            except OSError:
                pass


def timed_healthz(port, source):
    """(status, seconds) of GET /healthz from the loopback address source."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                            source_address=(source, 0))
    start = time.monotonic()
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - start
    except OSError as error:
        return f"no answer: {error!r}", time.monotonic() - start
    finally:
        connection.close()


def test_one_address_cannot_take_every_connection(tmp_path):
    with dplb_at(tmp_path) as dplb:
        attack = slow_connections(dplb.http_port, 80)
        try:
            for _ in range(10):
                dribble(attack)
                status, seconds = timed_healthz(dplb.http_port, "127.0.0.2")
                assert status == 200 and seconds < 0.5, (status, seconds)
                time.sleep(0.2)
            # Those over the cap were closed at once; the rest wait for the deadline.
            still_open = [s for s in attack if not closed_by_dplb(s)]
            assert len(still_open) <= PER_ADDRESS, len(still_open)
        finally:
            for sock in attack:
                sock.close()
        # The attacker's address is served again once it lets go (as soon
        # as dplb has seen its connections close).
        wait_for(lambda: timed_healthz(dplb.http_port, "127.0.0.1")[0] == 200,
                 "/healthz from 127.0.0.1 again")


def test_a_request_must_arrive_whole_within_the_deadline(tmp_path):
    with dplb_at(tmp_path) as dplb:
        start = time.monotonic()
        dribblers = slow_connections(dplb.http_port, 4)
        # A keep-alive connection that asked once and then says nothing.
        idle = http.client.HTTPConnection("127.0.0.1", dplb.http_port, timeout=5)
        idle.request("GET", "/healthz")
        assert idle.getresponse().read()
        watched = dribblers + [idle.sock]
        closed_after = {}
        try:
            while len(closed_after) < len(watched) and time.monotonic() - start < 25:
                dribble(dribblers)
                for i, sock in enumerate(watched):
                    if i not in closed_after and closed_by_dplb(sock):
                        closed_after[i] = time.monotonic() - start
                # Meanwhile others are served as ever.
                status, seconds = timed_healthz(dplb.http_port, "127.0.0.1")
                assert status == 200 and seconds < 0.5, (status, seconds)
                time.sleep(0.5)
        finally:
            idle.close()
            for sock in dribblers:
                sock.close()
    assert sorted(closed_after) == list(range(len(watched))), closed_after
    # Not before the deadline, and well within a generous bound after it.
    assert all(DEADLINE_SECONDS - 1 <= t < 25 for t in closed_after.values()), closed_after
    assert "no whole request within 10 s" in dplb.stderr
