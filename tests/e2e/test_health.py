"""End-to-end failover: dplb's health checks against real servers in the
namespace testbed (scripts/testbed), with kernel TCP and UDP clients.

dplb runs in the lb namespace; its checks leave through the kernel's own
leg there (mgmt0, 198.18.0.9, set as health_source), the way a management
NIC carries them on a real machine. Backends fail the ways servers do:
their process stops (connection refused, ICMP port unreachable), it
freezes (SIGSTOP: the kernel completes the handshake, nothing answers, the
check times out), or its /health page says 503.

What is proven here:
- a stopped server stops getting new connections once dplb marks it
  unhealthy, at most fall x interval + 1 s after it stopped, and from then
  on no client request fails; long-lived connections to the other servers
  never notice; started again it takes new connections within
  rise x interval + 1 s;
- a drained backend finishes its long-lived connections and gets no new ones;
- with every backend down the VIP's packets are dropped and counted as
  no_healthy_backend, /healthz and /vips say the VIP is unhealthy, and it
  recovers by itself when one backend returns;
- HTTP (status 503), UDP (port unreachable), TCP by SYN (reset) and timeout
  (frozen server) checks each take a backend out and put it back;
- a recovered backend's weight ramps up over slow_start;
- adding, removing and reweighting backends keeps the others' health, and a
  new backend is checked at once.

One testbed and one dplb serve the module (namespaces dplb-h<pid>-*); each
test puts every server back as it found it. Waits poll with deadlines.
"""

import http.client
import json
import os
import socket
import time

import pytest

from harness.e2e_testbed import (BACKENDS, KeepAliveClient, Repeatedly, dplb_running, http_once,
                                 in_netns, parse_identity, running_testbed, wait_for)

B1, B2, B3 = BACKENDS["b1"], BACKENDS["b2"], BACKENDS["b3"]
WEB_VIP, DNS_VIP, TCP_VIP = "198.18.1.81", "198.18.1.54", "198.18.1.82"
LB_MGMT_ADDR = "198.18.0.9"
INTERVAL_MS, TIMEOUT_MS, RISE, FALL = 200, 150, 2, 3
DETECT_SECONDS = FALL * INTERVAL_MS / 1000 + 1  # the promise
RECOVER_SECONDS = RISE * INTERVAL_MS / 1000 + 1
SLOW_START = 5  # seconds; with weight 1 it changes nothing, see the ramp test
NOBODY = "198.18.0.99"  # on the segment, nobody answers for it


def health_config():
    return "\n".join([
        "[dataplane]", "ports = 0", "address = 198.18.0.10", "prefix_length = 24",
        "flow_table_size = 65536", "",
        "[management]", "listen = 127.0.0.1:8080", f"health_source = {LB_MGMT_ADDR}", "",
        "[vip:web]", f"address = {WEB_VIP}", "port = 80", "protocol = tcp",
        "health_check = http:/health", f"health_interval_ms = {INTERVAL_MS}",
        f"health_timeout_ms = {TIMEOUT_MS}", f"health_rise = {RISE}", f"health_fall = {FALL}",
        f"slow_start = {SLOW_START}",
        f"backend = {B1}", f"backend = {B2}", f"backend = {B3}", "",
        "[vip:dns]", f"address = {DNS_VIP}", "port = 53", "protocol = udp", "encap = gue",
        "health_check = udp", "health_payload = are you there",
        f"health_interval_ms = {INTERVAL_MS}", f"health_timeout_ms = {TIMEOUT_MS}",
        f"health_rise = {RISE}", f"health_fall = {FALL}",
        f"backend = {B1}", f"backend = {B2}", f"backend = {B3}", "",
        # tcp checks by SYN (health_tcp = syn, the default), through mgmt0.
        "[vip:tcp]", f"address = {TCP_VIP}", "port = 80", "protocol = tcp",
        "health_check = tcp", f"health_interval_ms = {INTERVAL_MS}",
        f"health_timeout_ms = {TIMEOUT_MS}", f"health_rise = {RISE}", f"health_fall = {FALL}",
        f"backend = {B1}", f"backend = {B2}", f"backend = {B3}", "",
    ])


class Api:
    """dplb's HTTP endpoint, on loopback in the lb namespace."""

    def __init__(self, testbed):
        self.ns = testbed.ns("lb")

    def send(self, method, path, body=None):
        def request():
            conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10)
            try:
                conn.request(method, path, body=json.dumps(body) if body else None)
                response = conn.getresponse()
                return response.status, json.loads(response.read() or b"null")
            finally:
                conn.close()
        return in_netns(self.ns, request)

    def get(self, path):
        status, body = self.send("GET", path)
        assert status == 200, body
        return body

    def backend(self, vip, address):
        for b in self.get(f"/vips/{vip}")["backends"]:
            if b["address"] == address:
                return b
        raise AssertionError(f"no backend {address} in {vip}")

    def wait_health(self, vip, address, status, timeout=30):
        def reached():
            b = self.backend(vip, address)
            return b if b["health"]["status"] == status else None
        return wait_for(reached, f"{vip} backend {address} to be {status}", timeout=timeout)


@pytest.fixture(scope="module")
def testbed():
    with running_testbed(f"dplb-h{os.getpid()}-") as tb:
        yield tb


@pytest.fixture(scope="module")
def dplb(testbed, tmp_path_factory):
    with dplb_running(testbed, tmp_path_factory.mktemp("dplb-health"), health_config()) as lb:
        yield lb


@pytest.fixture
def api(testbed, dplb):
    """The API of a dplb whose backends are all healthy, before and after."""
    api = Api(testbed)
    for vip in ("web", "dns", "tcp"):
        for address in (B1, B2, B3):
            api.wait_health(vip, address, "healthy")
    yield api
    assert dplb.running(), dplb.output()


def server(testbed, backend, action):
    testbed.script("server", backend, action)


def new_request(testbed, timeout=3.0):
    """One new connection to the web VIP, one HTTP/1.0 request; the name of
    the backend that answered. Raises OSError when nobody does."""
    return parse_identity(http_once(testbed.ns("client"), WEB_VIP, timeout=timeout))[0]


def udp_ask(testbed, payload, sport):
    def ask():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            sock.bind(("198.18.0.2", sport))
            sock.sendto(payload, (DNS_VIP, 53))
            return sock.recv(4096).decode()
    return in_netns(testbed.ns("client"), ask)


def test_stopped_server_gets_no_new_connections_and_no_request_fails(testbed, dplb, api):
    # Long-lived connections, some on each of the other servers.
    keep = []
    while {n for _, n in keep} != {"b1", "b3"}:
        client = KeepAliveClient(testbed, WEB_VIP)
        name = client.ask("/first")[0]
        if name == "b2":
            client.close()
        else:
            keep.append((client, name))
        assert len(keep) < 60, "no long-lived connection landed on b1 and b3"
    clients = Repeatedly(lambda: new_request(testbed))
    try:
        wait_for(lambda: "b2" in clients.since(0), "a new connection to b2 before the stop")
        stopped = time.monotonic()
        server(testbed, "b2", "stop")
        b2 = api.wait_health("web", B2, "unhealthy", timeout=30)
        detected = time.monotonic()
        assert not b2["takes_new_flows"] and not b2["keeps_flows"], b2
        assert "refused" in b2["health"]["last_check"]["error"], b2
        assert detected - stopped <= DETECT_SECONDS, \
            f"b2 marked unhealthy {detected - stopped:.2f}s after its server stopped"
        # The transition is logged once, with its reason.
        logged = "".join(dplb.output()).count(
            f"dplb: vip web backend {B2}:80 unhealthy: connect refused, {FALL} of {FALL} "
            "checks failed")
        assert logged == 1, f"logged {logged} times"
        # From now on every new connection is answered, and never by b2.
        wait_for(lambda: len(clients.since(detected)) >= 40, "40 connections after detection")
        after = clients.since(detected)
        assert all(o in ("b1", "b3") for o in after), after
        for number, (client, name) in enumerate(keep, start=2):
            assert client.ask(f"/again/{number}")[0] == name
        # Back: healthy within rise x interval + 1 s, and taking new flows.
        started = time.monotonic()
        server(testbed, "b2", "start")
        api.wait_health("web", B2, "healthy", timeout=30)
        assert time.monotonic() - started <= RECOVER_SECONDS + 1, \
            "b2 took longer than rise x interval + 1 s to come back"
        back = time.monotonic()
        wait_for(lambda: "b2" in clients.since(back), "a new connection to b2 after recovery")
        assert not [o for o in clients.since(back) if o.startswith("error")]
        assert api.backend("web", B2)["health"]["transitions"] >= 3  # first, down, up
    finally:
        clients.stop()
        server(testbed, "b2", "start")
        for client, _ in keep:
            client.close()


def test_drained_backend_finishes_its_connections_and_gets_no_new_ones(testbed, api):
    keep = []
    while sum(1 for _, n in keep if n == "b1") < 2:
        client = KeepAliveClient(testbed, WEB_VIP)
        keep.append((client, client.ask("/first")[0]))
        assert len(keep) < 60, "no long-lived connection landed on b1"
    try:
        status, body = api.send("PATCH", f"/vips/web/backends/{B1}", {"state": "drain"})
        assert status == 200, body
        b1 = api.backend("web", B1)
        assert b1["state"] == "drain" and b1["health"]["status"] == "healthy", b1
        assert not b1["takes_new_flows"] and b1["keeps_flows"], b1
        for number, (client, name) in enumerate(keep, start=2):
            assert client.ask(f"/again/{number}")[0] == name  # drained ones too
        assert "b1" not in {new_request(testbed) for _ in range(40)}
        # The drained connections finish normally: a last request, then close.
        for client, name in keep:
            status, body = client.request("/last", close=True)
            assert status == 200 and parse_identity(body)[0] == name
    finally:
        api.send("PATCH", f"/vips/web/backends/{B1}", {"state": "up"})
        for client, _ in keep:
            client.close()


def test_every_backend_down_drops_and_counts_then_recovers(testbed, dplb, api):
    for b in ("b1", "b2", "b3"):
        server(testbed, b, "sick")
    try:
        wait_for(lambda: api.get("/healthz")["unhealthy_vips"] == ["web"],
                 "/healthz to name web unhealthy")
        health = api.get("/healthz")
        assert health["status"] == "degraded", health
        web = api.get("/vips/web")
        assert not web["healthy"] and web["no_healthy_backend"], web
        assert web["backends_unhealthy"] == 3 and web["backends_up"] == 0, web
        for b in web["backends"]:
            assert "503" in b["health"]["last_check"]["error"], b
        before = dplb.drops()["no_healthy_backend"]
        with pytest.raises(OSError):
            new_request(testbed, timeout=1.0)  # the SYNs are dropped
        wait_for(lambda: dplb.drops()["no_healthy_backend"] > before,
                 "no_healthy_backend drops to be counted")
        # dns, checked by UDP, is untouched.
        assert api.get("/vips/dns")["healthy"]
        server(testbed, "b3", "well")
        api.wait_health("web", B3, "healthy")
        assert api.get("/healthz")["status"] == "ok"
        assert new_request(testbed) == "b3"
    finally:
        for b in ("b1", "b2", "b3"):
            server(testbed, b, "well")


def test_http_check_fails_on_503_and_recovers(testbed, api):
    server(testbed, "b1", "sick")
    try:
        b1 = api.wait_health("web", B1, "unhealthy")
        assert b1["health"]["last_check"]["error"] == "http status 503", b1
        assert b1["health"]["consecutive_failures"] >= FALL
        assert "b1" not in {new_request(testbed) for _ in range(20)}
    finally:
        server(testbed, "b1", "well")
    api.wait_health("web", B1, "healthy")


def test_udp_check_fails_on_port_unreachable_and_recovers(testbed, api):
    server(testbed, "b3", "stop")
    try:
        b3 = api.wait_health("dns", B3, "unhealthy")
        assert b3["health"]["last_check"]["error"] == "udp: port unreachable", b3
        answers = {udp_ask(testbed, b"q", 20000 + i).split()[1] for i in range(30)}
        assert "b3" not in answers and answers, answers
    finally:
        server(testbed, "b3", "start")
    api.wait_health("dns", B3, "healthy")
    answers = {udp_ask(testbed, b"q", 21000 + i).split()[1] for i in range(60)}
    assert "b3" in answers, answers


def test_frozen_server_times_out_and_recovers(testbed, api):
    server(testbed, "b2", "freeze")
    try:
        b2 = api.wait_health("web", B2, "unhealthy")
        error = b2["health"]["last_check"]["error"]
        assert error.startswith(f"timeout after {TIMEOUT_MS} ms"), b2
        assert b2["health"]["last_check"]["latency_ms"] >= TIMEOUT_MS
    finally:
        server(testbed, "b2", "thaw")
    api.wait_health("web", B2, "healthy")


def test_health_in_metrics_and_telemetry(testbed, dplb, api):
    def metrics():
        def get():
            conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=10)
            conn.request("GET", "/metrics")
            return conn.getresponse().read().decode()
        return in_netns(testbed.ns("lb"), get)
    text = metrics()
    line = f'dplb_backend_health{{backend="{B1}",vip="web",status="healthy"}} 1'
    assert line in text, text
    assert f'dplb_backend_health_transitions_total{{backend="{B1}",vip="web"}}' in text
    assert 'dplb_vip_healthy{vip="web"} 1' in text
    rows = dplb.telemetry("/dplb/backends,web")
    assert rows["health"] == ["healthy"] * 3, rows
    vips = dplb.telemetry("/dplb/vips")
    assert vips["healthy"] == [1, 1, 1] and vips["backends_unhealthy"] == [0, 0, 0], vips
    assert dplb.telemetry("/dplb/stats")["health_checks"] > 0
    stats = api.get("/stats")
    assert stats["health"]["backends_checked"] == 9 and stats["health"]["checks"] > 0, stats


def test_recovered_backend_ramps_its_weight_over_slow_start(testbed, api):
    status, body = api.send("PATCH", f"/vips/web/backends/{B3}", {"weight": 10})
    assert status == 200, body
    server(testbed, "b3", "sick")
    try:
        api.wait_health("web", B3, "unhealthy")
        server(testbed, "b3", "well")
        b3 = api.wait_health("web", B3, "healthy")
        assert b3["health"]["weight_percent"] < 100 and b3["effective_weight"] < 10, b3
        seen = [b3["effective_weight"]]

        def full_weight():
            seen.append(api.backend("web", B3)["effective_weight"])
            return seen[-1] == 10
        wait_for(full_weight, "b3 back to its full weight", timeout=SLOW_START + 30)
        assert seen == sorted(seen), f"the ramp went down: {seen}"
        assert len(set(seen)) >= 3, f"no steps between 10% and 100%: {seen}"
        assert api.backend("web", B3)["health"]["weight_percent"] == 100
    finally:
        server(testbed, "b3", "well")
        api.send("PATCH", f"/vips/web/backends/{B3}", {"weight": 1})


def test_changes_keep_the_health_of_backends_that_stay(testbed, api):
    server(testbed, "b1", "sick")
    try:
        api.wait_health("web", B1, "unhealthy")
        b2_before = api.backend("web", B2)["health"]
        status, body = api.send("POST", "/vips/web/backends", {"address": NOBODY})
        assert status in (200, 201), body
        added = api.backend("web", NOBODY)
        assert added["health"]["status"] in ("unchecked", "unhealthy"), added
        # Nobody answers: checked at once, and failed after fall checks.
        added = api.wait_health("web", NOBODY, "unhealthy")
        assert added["health"]["checks"] >= FALL, added
        status, body = api.send("PATCH", f"/vips/web/backends/{B2}", {"weight": 3})
        assert status == 200, body
        b1 = api.backend("web", B1)
        assert b1["health"]["status"] == "unhealthy" and not b1["takes_new_flows"], b1
        b2 = api.backend("web", B2)["health"]
        assert b2["status"] == "healthy", b2
        assert b2["transitions"] == b2_before["transitions"], (b2_before, b2)
        assert b2["checks"] >= b2_before["checks"], "a change restarted b2's history"
        status, body = api.send("DELETE", f"/vips/web/backends/{NOBODY}")
        assert status == 200, body
        assert api.backend("web", B1)["health"]["status"] == "unhealthy"
    finally:
        api.send("DELETE", f"/vips/web/backends/{NOBODY}")
        api.send("PATCH", f"/vips/web/backends/{B2}", {"weight": 1})
        server(testbed, "b1", "well")


def test_tcp_check_by_syn_fails_on_reset_and_recovers(testbed, api):
    before = api.backend("tcp", B1)["health"]["checks"]
    server(testbed, "b1", "stop")
    try:
        b1 = api.wait_health("tcp", B1, "unhealthy")
        assert b1["health"]["last_check"]["error"] == "connect refused", b1
        assert b1["health"]["checks"] > before
    finally:
        server(testbed, "b1", "start")
    b1 = api.wait_health("tcp", B1, "healthy")
    assert b1["health"]["last_check"]["ok"], b1
