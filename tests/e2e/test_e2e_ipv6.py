"""End-to-end over IPv6: real kernel clients and servers in network
namespaces (scripts/testbed, its IPv6 half), dplb between them on
net_af_packet, nothing static: the client's kernel finds dplb's IPv6
address by neighbor discovery, and dplb finds the backends the same way.

What is proven here:
- curl over IPv6 through an IPv6 VIP to real backends (ip6ip6), every
  request answered, the spread following the weights, each connection's
  packets all at the backend that answered;
- UDP over IPv6 through GUE over IPv6, each flow at one backend;
- the mixed pairings with real kernels at both ends: an IPv4 VIP served by
  IPv6 backends (IPv4 in IPv6) and an IPv6 VIP by IPv4 backends (IPv6 in
  IPv4);
- dplb answers the client kernel's neighbor solicitations and pings to
  its IPv6 address and to an IPv6 VIP, and resolves its IPv6 next hops by
  neighbor discovery (no gateway_mac6, no mac=).

Run as root:  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_e2e_ipv6.py
"""

import collections
import os

import pytest

from harness.e2e_testbed import (BACKENDS, BACKENDS6, CLIENT_ADDR6, LB_ADDR6, NAME_OF,
                                 PREFIX_LENGTH6, VIP6, config_text, dplb_running, http_once,
                                 in_netns, parse_identity, running_testbed, udp_from_ports,
                                 wait_for)

WEB6_WEIGHTS = {BACKENDS6["b1"]: 1, BACKENDS6["b2"]: 2, BACKENDS6["b3"]: 2}
DNS6_VIP = "fd00:db1b:1::53"
MIXED4_VIP = "198.18.1.46"    # an IPv4 VIP, IPv6 backends
MIXED6_VIP = "fd00:db1b:1::64"  # an IPv6 VIP, IPv4 backends
REQUESTS = 600
SPREAD_TOLERANCE = 6.0  # percentage points


def make_config():
    text = config_text([
        ("web6", VIP6, 80, "tcp", "ipip", WEB6_WEIGHTS),
        ("dns6", DNS6_VIP, 53, "udp", "gue", {a: 1 for a in BACKENDS6.values()}),
        ("mixed4", MIXED4_VIP, 80, "tcp", "ipip", {a: 1 for a in BACKENDS6.values()}),
        ("mixed6", MIXED6_VIP, 80, "tcp", "gue", {a: 1 for a in BACKENDS.values()}),
    ])
    return text.replace("[dataplane]\n", f"[dataplane]\naddress6 = {LB_ADDR6}\n"
                        f"prefix_length6 = {PREFIX_LENGTH6}\n", 1)


@pytest.fixture(scope="module")
def testbed():
    with running_testbed(f"dplb-6e{os.getpid()}-", tools=("ip", "ethtool", "curl", "ping")) as tb:
        yield tb


@pytest.fixture(scope="module")
def lb(testbed, tmp_path_factory):
    def resolved(lb):
        # Every IPv6 backend by ND, every IPv4 one by ARP.
        wait_for(lambda: lb.stats()["nd_advertisements_learned"] >= 3,
                 "dplb to resolve the three IPv6 backends by neighbor discovery")
        wait_for(lambda: lb.stats()["arp_answers_learned"] >= 3,
                 "dplb to resolve the three IPv4 backends by ARP")
    with dplb_running(testbed, tmp_path_factory.mktemp("dplb6"), make_config(),
                      ready=resolved) as running:
        yield running
        assert running.running(), running.output()


def curl_identities(testbed, url, requests):
    res = testbed.exec("client", "curl", "-sS", "--max-time", "300", "-H", "Connection: close",
                       "-w", "%{http_code} %{local_port}\n", f"{url}?[1-{requests}]",
                       check=False, timeout=400)
    lines = res.stdout.splitlines()
    answers = []
    for body, status in zip(lines[0::2], lines[1::2]):
        name, port, number = parse_identity(body)
        code, local_port = status.split()
        assert code == "200" and int(local_port) == port and number == 1, (body, status)
        answers.append((name, port))
    assert res.returncode == 0 and len(answers) == requests, res.stderr[-2000:]
    return answers


def test_curl_over_ipv6_through_an_ipv6_vip(testbed, lb):
    new_flows = lb.stats()["new_flows"]
    answers = curl_identities(testbed, f"http://[{VIP6}]/e2e6", REQUESTS)
    # Each connection a new flow at dplb: the requests went through it.
    assert lb.stats()["new_flows"] - new_flows >= REQUESTS
    counts = collections.Counter(name for name, _ in answers)
    total_weight = sum(WEB6_WEIGHTS.values())
    for backend, weight in WEB6_WEIGHTS.items():
        share = 100.0 * counts[NAME_OF[backend]] / REQUESTS
        assert abs(share - 100.0 * weight / total_weight) <= SPREAD_TOLERANCE, counts
    # The client's kernel asked for dplb's IPv6 address, and was answered.
    assert lb.stats()["nd_advertisements"] >= 1
    drops = lb.drops()
    for reason in ("no_next_hop", "bad_checksum", "bad_nd", "bad_l4", "too_big", "tx_full"):
        assert drops[reason] == 0, drops


def test_udp_over_ipv6_through_gue_over_ipv6(testbed, lb):
    answers = in_netns(testbed.ns("client"), udp_from_ports, CLIENT_ADDR6, DNS6_VIP,
                       range(20000, 20200), 3)
    assert all(len(set(names)) == 1 for names in answers.values()), "a flow moved"
    assert {n for names in answers.values() for n in names} == {"b1", "b2", "b3"}


@pytest.mark.parametrize("vip", [MIXED4_VIP, MIXED6_VIP], ids=["ipv4-in-ipv6", "ipv6-in-ipv4"])
def test_the_mixed_pairings_with_real_kernels(testbed, lb, vip):
    host = f"[{vip}]" if ":" in vip else vip
    answers = curl_identities(testbed, f"http://{host}/mixed", 60)
    assert {name for name, _ in answers} == {"b1", "b2", "b3"}
    body = http_once(testbed.ns("client"), vip)
    assert body.startswith("backend b"), body


def test_pings_to_dplbs_ipv6_address_and_an_ipv6_vip(testbed, lb):
    before = lb.stats()["icmp6_echo_replies"]
    for target in (LB_ADDR6, VIP6):
        testbed.exec("client", "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", target)
    assert lb.stats()["icmp6_echo_replies"] >= before + 6
