"""End-to-end: route announcement tied to health ([dataplane] announce_table).

dplb runs in the testbed's lb namespace with the kernel's exception path
(exception_path = tap) and announce_table = 100, the management leg (mgmt0)
down as in test_exception_path.py, so health checks go through the tap. The
kernel's table 100 in dplb's namespace is what a routing daemon (BIRD's
kernel protocol, conf/bird/bird.conf) would announce; these tests read it
with `ip -j route show table 100`.

What is proven here:
- a route per VIP address (address/32 dev dplb0, proto static) appears
  while a VIP of that address has a healthy backend, and /stats, /vips say
  which VIPs are announced; a VIP whose only backend has a check that has
  not passed yet is not announced, though it takes traffic;
- an address shared by two VIPs (ports) stays announced while either is
  healthy, and is withdrawn when every backend of both fails its checks
  (scripts/testbed server ... sick: GET /health answers 503); it comes back
  when one recovers; another VIP's address is untouched throughout;
- a VIP coming back waits until its other backends on their way back
  have passed their rise checks too (hold-down), so that this instance's
  Maglev table has them when routers send it traffic again;
- a reload moves the routes to another table, and announce_table = 0
  withdraws them all;
- SIGTERM withdraws every route first, keeps forwarding for drain_seconds
  (a new connection through the VIP works while the table is empty and
  /healthz says "draining"), then dplb exits 0 by itself;
- SIGKILL: the routes go with the tap, nothing is left behind.

Everything waits by polling with generous deadlines.

Run as root:  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_announce.py
"""

import json
import os
import signal

import pytest

from harness.e2e_testbed import (BACKENDS, DPLB, LB_ADDR6, VIP6, LiveDplb, api_get, config_text,
                                 dplb_running, http_once, parse_identity, run, running_testbed,
                                 wait_for, WAIT_SECONDS)

B1, B2, B3 = BACKENDS["b1"], BACKENDS["b2"], BACKENDS["b3"]
SHARED_VIP, OTHER_VIP = "198.18.1.80", "198.18.1.81"
TABLE = 100
TAP = "dplb0"


def make_config(table=TABLE, drain_seconds=None):
    """web (port 80: b1, b2) and alt (port 81: b3) share one address, both
    checked by HTTP every 200 ms; other (b3, unchecked) has its own."""
    text = config_text([("web", SHARED_VIP, 80, "tcp", "ipip", {B1: 1, B2: 1}),
                        ("alt", SHARED_VIP, 81, "tcp", "ipip", {B3: 1}),
                        ("other", OTHER_VIP, 80, "tcp", "ipip", {B3: 1})],
                       static_macs=True)
    checked = "health_check = http:/health\nhealth_port = 80\nhealth_interval_ms = 200"
    text = text.replace("health_check = none", checked, 2)
    dataplane = f"[dataplane]\nexception_path = tap\nannounce_table = {table}\n"
    if drain_seconds is not None:
        dataplane += f"drain_seconds = {drain_seconds}\n"
    return text.replace("[dataplane]\n", dataplane, 1)


@pytest.fixture(scope="module")
def testbed():
    with running_testbed(f"dplb-a{os.getpid()}-", tools=("ip", "ethtool")) as tb:
        # The kernel's only leg on the segment is dplb's tap, as on bare metal.
        tb.exec("lb", "ip", "link", "set", "mgmt0", "down")
        yield tb


def routes(testbed, table=TABLE):
    """The kernel's routes in table, in dplb's namespace: {destination: route}."""
    res = testbed.exec("lb", "ip", "-j", "route", "show", "table", str(table), check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return {}
    return {r["dst"]: r for r in json.loads(res.stdout)}


def new_request(testbed):
    """One new connection through the shared VIP; the backend that answered."""
    return parse_identity(http_once(testbed.ns("client"), SHARED_VIP))[0]


def server(testbed, backend, action):
    testbed.script("server", backend, action)


def wait_routes(testbed, wanted, what, table=TABLE):
    return wait_for(lambda: (r := routes(testbed, table)) and set(r) == set(wanted) and r
                    or (not wanted and r == {} and {"empty": True}), what)


def both_announced(testbed):
    found = wait_routes(testbed, {SHARED_VIP, OTHER_VIP}, "both VIP addresses in table 100")
    for address in (SHARED_VIP, OTHER_VIP):
        assert found[address]["dev"] == TAP, found
        assert found[address]["protocol"] == "static", found
        assert found[address]["scope"] == "link", found
    return found


def test_routes_follow_the_vips_health(testbed, tmp_path):
    try:
        with dplb_running(testbed, tmp_path, make_config()) as lb:
            both_announced(testbed)
            announce = api_get(testbed, "/stats")["announce"]
            assert announce["table"] == TABLE and not announce["draining"], announce
            assert announce["addresses"] == [SHARED_VIP, OTHER_VIP], announce
            assert sorted(announce["vips"]) == ["alt", "other", "web"], announce
            assert announce["announce_routes_added"] == 2, announce
            assert api_get(testbed, "/vips/web")["announced"]
            # The main table never sees a VIP: the kernel routes none itself.
            main = testbed.exec("lb", "ip", "route", "show", "table", "main").stdout
            assert SHARED_VIP not in main and OTHER_VIP not in main, main

            # web's backends fail: alt, on the same address, keeps it announced.
            server(testbed, "b1", "sick")
            server(testbed, "b2", "sick")
            wait_for(lambda: not api_get(testbed, "/vips/web")["healthy"], "web to be unhealthy")
            assert set(routes(testbed)) == {SHARED_VIP, OTHER_VIP}
            assert api_get(testbed, "/vips/web")["announced"]  # its address is

            # alt's too: the address is withdrawn, other's stays.
            server(testbed, "b3", "sick")
            wait_routes(testbed, {OTHER_VIP}, f"{SHARED_VIP} to be withdrawn")
            announce = api_get(testbed, "/stats")["announce"]
            assert announce["addresses"] == [OTHER_VIP] and announce["vips"] == ["other"], \
                announce
            assert announce["announce_routes_removed"] == 1, announce
            assert not api_get(testbed, "/vips/alt")["announced"]

            # One backend back: announced again.
            server(testbed, "b1", "well")
            both_announced(testbed)
            assert api_get(testbed, "/vips/web")["healthy"]
            server(testbed, "b2", "well")
            server(testbed, "b3", "well")

            # A reload moves the routes to another table; 0 withdraws them.
            lb.reload(make_config(table=101))
            wait_routes(testbed, {SHARED_VIP, OTHER_VIP}, "the routes in table 101", table=101)
            wait_routes(testbed, set(), "table 100 to be empty")
            lb.reload(make_config(table=0))
            wait_routes(testbed, set(), "table 101 to be empty", table=101)
            assert api_get(testbed, "/stats")["announce"]["addresses"] == []
            lb.reload(make_config())
            both_announced(testbed)
            stats = lb.stats()
            assert stats["announce_failures"] == 0, stats
        # Stopped (SIGINT): nothing left.
        assert routes(testbed) == {}
    finally:
        for b in ("b1", "b2", "b3"):
            server(testbed, b, "well")


def routes6(testbed, table=TABLE):
    """As routes, for IPv6."""
    res = testbed.exec("lb", "ip", "-j", "-6", "route", "show", "table", str(table),
                       check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return {}
    return {r["dst"]: r for r in json.loads(res.stdout)}


def test_an_ipv6_vip_is_announced_as_a_128_under_the_same_rules(testbed, tmp_path):
    """six (an IPv6 VIP, IPv4 backend b3, checked by HTTP) beside other
    (IPv4, unchecked): its route is a /128 through the tap in the same
    table, withdrawn when its backend fails its checks and back when it
    recovers; other's is untouched. Nothing here needs dplb to forward
    IPv6."""
    text = config_text([("other", OTHER_VIP, 80, "tcp", "ipip", {B3: 1}),
                        ("six", VIP6, 80, "tcp", "ipip", {B3: 1})], static_macs=True)
    head, _, tail = text.partition("[vip:six]")
    tail = tail.replace("health_check = none", "health_check = http:/health\n"
                        "health_interval_ms = 200", 1)
    text = (head + "[vip:six]" + tail).replace(
        "[dataplane]\n", f"[dataplane]\nexception_path = tap\nannounce_table = {TABLE}\n"
        f"address6 = {LB_ADDR6}\n", 1)
    path = tmp_path / "six.ini"
    path.write_text(text)
    check = run(DPLB, "--check-config", path, check=False)
    assert check.returncode == 0, check.stderr

    try:
        with dplb_running(testbed, tmp_path, text):
            found = wait_for(lambda: VIP6 in (r := routes6(testbed)) and r,
                             f"{VIP6} in table {TABLE}")
            assert found[VIP6]["dev"] == TAP and found[VIP6]["protocol"] == "static", found
            assert set(routes(testbed)) == {OTHER_VIP}
            announce = api_get(testbed, "/stats")["announce"]
            assert announce["addresses"] == [OTHER_VIP, VIP6], announce
            assert sorted(announce["vips"]) == ["other", "six"], announce
            assert api_get(testbed, "/vips/six")["announced"]

            server(testbed, "b3", "sick")
            wait_for(lambda: VIP6 not in routes6(testbed), f"{VIP6} to be withdrawn")
            assert set(routes(testbed)) == {OTHER_VIP}
            assert not api_get(testbed, "/vips/six")["announced"]
            server(testbed, "b3", "well")
            wait_for(lambda: VIP6 in routes6(testbed), f"{VIP6} to be announced again")
        assert routes6(testbed) == {} and routes(testbed) == {}
    finally:
        server(testbed, "b3", "well")


UNPROVEN_VIP = "198.18.1.82"


def test_a_vip_is_announced_only_once_a_check_has_passed(testbed, tmp_path):
    """unproven's one backend is checked on a port nobody listens on: until
    its tenth failure it is unchecked, and takes traffic (it is "healthy"),
    but no check has vouched for it, so its address is never announced;
    other (no check) is announced at once."""
    text = config_text([("other", OTHER_VIP, 80, "tcp", "ipip", {B3: 1}),
                        ("unproven", UNPROVEN_VIP, 80, "tcp", "ipip", {B1: 1})],
                       static_macs=True)
    head, _, tail = text.partition("[vip:unproven]")
    tail = tail.replace("health_check = none", "health_check = tcp\nhealth_port = 9\n"
                        "health_interval_ms = 300\nhealth_fall = 10", 1)
    text = (head + "[vip:unproven]" + tail).replace(
        "[dataplane]\n", f"[dataplane]\nexception_path = tap\nannounce_table = {TABLE}\n", 1)

    def unproven_state():
        vip = api_get(testbed, "/vips/unproven")
        assert UNPROVEN_VIP not in routes(testbed), "announced before any check passed"
        assert not vip["announced"], vip
        return vip

    with dplb_running(testbed, tmp_path, text):
        wait_routes(testbed, {OTHER_VIP}, "other's address in table 100")
        assert unproven_state()["healthy"], "an unchecked backend should take traffic"
        wait_for(lambda: unproven_state()["backends"][0]["health"]["status"] == "unhealthy",
                 "unproven's backend to fail its checks")
        assert set(routes(testbed)) == {OTHER_VIP}


def test_a_vip_coming_back_waits_for_its_rising_backends(testbed, tmp_path):
    """Hold-down. web's two backends fail its HTTP checks (every 300 ms)
    and its address is withdrawn; then both recover, b2 just before b1. b1 needs 3
    passing checks, b2 6 (health_rise=6 on its line). Announced with b1,
    the address would draw routers here about a second before b2 is back
    in this dplb's Maglev table, while a peer's has it: connections moved
    here would meet another backend. It comes back once b2 is healthy too
    (held at most b2's 6 checks, 2.1 s, from when b1 passed: far more than
    b2 needs), and the log says it was held. alt, on the same address, has
    one backend (b3) that recovers with b1 and holds nothing, and may be
    healthy before web is: the address waits for web all the same."""
    text = config_text([("web", SHARED_VIP, 80, "tcp", "ipip", {B1: 1, B2: 1}),
                        ("alt", SHARED_VIP, 81, "tcp", "ipip", {B3: 1})],
                       static_macs=True)
    text = text.replace("health_check = none",
                        "health_check = http:/health\nhealth_port = 80\n"
                        "health_interval_ms = 300\nhealth_rise = 3", 2)
    text = text.replace(f"backend = {B2} weight=1", f"backend = {B2} weight=1 health_rise=6", 1)
    assert "health_rise=6" in text
    text = text.replace("[dataplane]\n",
                        f"[dataplane]\nexception_path = tap\nannounce_table = {TABLE}\n", 1)

    def back():
        """web's backends as /vips says the moment its address is back."""
        return SHARED_VIP in routes(testbed) and api_get(testbed, "/vips/web")["backends"]

    try:
        with dplb_running(testbed, tmp_path, text) as lb:
            wait_routes(testbed, {SHARED_VIP}, "web's address in table 100")
            for b in ("b1", "b2", "b3"):
                server(testbed, b, "sick")
            wait_routes(testbed, set(), "web's address to be withdrawn")
            assert api_get(testbed, "/stats")["announce"]["held"] == []
            # b2 first, so that it has passed a check by the time b1 has
            # passed its three: the hold starts then. b2 needs 3 checks (0.9
            # s) more than b1: /stats says web waits.
            for b in ("b2", "b1", "b3"):
                server(testbed, b, "well")
            wait_for(lambda: api_get(testbed, "/stats")["announce"]["held"] == ["web"],
                     "web to be held back")
            backends = wait_for(back, "web's address back")
            assert [b["health"]["status"] for b in backends] == ["healthy", "healthy"], backends
            assert "vip web held back while its backends pass their rise checks" \
                in lb.output()[0] + lb.output()[1]
            assert api_get(testbed, "/stats")["announce"]["held"] == []
    finally:
        for b in ("b1", "b2", "b3"):
            server(testbed, b, "well")


def test_sigterm_withdraws_first_then_drains(testbed, tmp_path):
    drain = 10  # far longer than withdrawing takes (milliseconds)
    with dplb_running(testbed, tmp_path, make_config(drain_seconds=drain)) as lb:
        both_announced(testbed)
        assert new_request(testbed) in ("b1", "b2")
        lb.proc.send_signal(signal.SIGTERM)
        wait_routes(testbed, set(), "the routes to be withdrawn on SIGTERM")
        # Withdrawn, still forwarding: the routers' flows still arrive.
        assert lb.running(), lb.output()
        health = api_get(testbed, "/healthz")
        assert health["status"] == "draining" and health["draining"], health
        assert new_request(testbed) in ("b1", "b2")
        assert lb.running(), "dplb stopped before drain_seconds were over"
        # Then it stops by itself.
        lb.proc.wait(timeout=WAIT_SECONDS + drain)
        out, _ = lb.output()
        assert f"forwarding for {drain} s more" in out, out
    assert routes(testbed) == {}


def test_sigkill_leaves_no_route_behind(testbed, tmp_path):
    lb = LiveDplb(testbed, tmp_path)
    try:
        lb.start(make_config())
        both_announced(testbed)
        lb.proc.send_signal(signal.SIGKILL)
        lb.proc.wait(timeout=WAIT_SECONDS)
        # The routes were through the tap, which went with the process.
        wait_routes(testbed, set(), "the routes to go with the tap")
    finally:
        lb.stop()
