"""The testbed's IPv6 plumbing (scripts/testbed), without dplb: what the
IPv6 tests of dplb will stand on, proven before dplb forwards IPv6.

What is proven here:
- every node has its IPv6 address (tests/harness/e2e_testbed.py's
  constants), the client routes the IPv6 VIP range via dplb's IPv6
  address, every backend takes the whole range as local, and dplb's
  namespace has IPv6 on its management leg only (none on eth0, which is
  dplb's);
- the backends' HTTP servers answer over IPv6 from dplb's namespace, as
  IPv6 health checks will ask them;
- each backend's dplb-decap takes every pairing of families dplb will
  send (IPv6 in IPv6, IPv6 in IPv4, IPv4 in IPv6; IP-in-IP and GUE): a
  tunnelled datagram from the client to a VIP, sent from dplb's
  namespace as dplb would send it, is answered by the backend straight to
  the client, from the VIP.

Run as root:  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_testbed6.py
"""

import ipaddress
import json
import os
import socket

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

from harness.e2e_testbed import (BACKENDS, BACKENDS6, CLIENT_ADDR, CLIENT_ADDR6, GUE_PORT,
                                 LB_ADDR6, LB_MGMT_ADDR6, PREFIX_LENGTH6, VIP6, VIP6_RANGE,
                                 in_netns, running_testbed, WAIT_SECONDS)

VIP4 = "198.18.1.53"
UDP_PORT = 53  # the backends' echo servers


@pytest.fixture(scope="module")
def testbed():
    with running_testbed(f"dplb-6{os.getpid()}-", tools=("ip", "ethtool")) as tb:
        yield tb


def addresses(testbed, node, device):
    """The device's global IPv6 addresses (link-local ones aside)."""
    res = testbed.exec(node, "ip", "-j", "-6", "addr", "show", "dev", device, "scope", "global")
    return {(a["local"], a["prefixlen"]) for i in json.loads(res.stdout)
            for a in i.get("addr_info", []) if "local" in a}


def test_every_node_has_its_ipv6_address(testbed):
    assert addresses(testbed, "client", "eth0") == {(CLIENT_ADDR6, PREFIX_LENGTH6)}
    for name, address in BACKENDS6.items():
        assert addresses(testbed, name, "eth0") == {(address, PREFIX_LENGTH6)}, name
    assert addresses(testbed, "lb", "mgmt0") == {(LB_MGMT_ADDR6, PREFIX_LENGTH6)}
    # dplb's port: the kernel there has no IPv6 at all, so it sends nothing
    # (no neighbour discovery, no listener reports) that dplb would see.
    res = testbed.exec("lb", "ip", "-j", "-6", "addr", "show", "dev", "eth0")
    assert all("local" not in a for i in json.loads(res.stdout)
               for a in i.get("addr_info", [])), res.stdout
    res = testbed.exec("lb", "sysctl", "-n", "net.ipv6.conf.eth0.disable_ipv6")
    assert res.stdout.strip() == "1"


def test_client_routes_the_ipv6_vips_via_dplb(testbed):
    res = testbed.exec("client", "ip", "-j", "-6", "route", "get", VIP6)
    route = json.loads(res.stdout)[0]
    assert route["gateway"] == LB_ADDR6 and route["dev"] == "eth0"
    assert ipaddress.ip_address(VIP6) in ipaddress.ip_network(VIP6_RANGE)


def test_backends_take_the_whole_ipv6_vip_range_as_local(testbed):
    for name in BACKENDS6:
        for vip in (VIP6, "fd00:db1b:1::ffff"):
            res = testbed.exec(name, "ip", "-j", "-6", "route", "get", vip)
            assert json.loads(res.stdout)[0]["type"] == "local", (name, vip)


def test_backends_answer_http_over_ipv6_from_dplbs_namespace(testbed):
    for name, address in BACKENDS6.items():
        def get(address=address):
            with socket.create_connection((address, 80), timeout=WAIT_SECONDS) as sock:
                sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                return sock.getsockname()[0], data
        source, answer = in_netns(testbed.ns("lb"), get)
        assert answer.startswith(b"HTTP/1.1 200"), (name, answer[:60])
        assert source == LB_MGMT_ADDR6, "IPv6 checks leave from the management leg"


def send_from_lb(testbed, outer_family, proto, payload, destination, port=0):
    """Send payload from dplb's namespace (its kernel leg) to destination:
    over a raw socket of protocol proto (IP-in-IP), or UDP to port."""
    def send():
        kind = socket.SOCK_DGRAM if proto == socket.IPPROTO_UDP else socket.SOCK_RAW
        with socket.socket(outer_family, kind, 0 if kind == socket.SOCK_DGRAM else proto) as s:
            s.sendto(payload, (destination, port))
    in_netns(testbed.ns("lb"), send)


def inner_datagram(inner_family, sport, text):
    if inner_family == socket.AF_INET6:
        return bytes(IPv6(src=CLIENT_ADDR6, dst=VIP6) / UDP(sport=sport, dport=UDP_PORT) /
                     Raw(text.encode()))
    return bytes(IP(src=CLIENT_ADDR, dst=VIP4) / UDP(sport=sport, dport=UDP_PORT) /
                 Raw(text.encode()))


# (backend, outer family, inner family, encap): each pairing on a backend
# of its own, so that every backend's dplb-decap is tried too.
PAIRINGS = [
    ("b1", socket.AF_INET6, socket.AF_INET6, "ipip"),
    ("b2", socket.AF_INET6, socket.AF_INET6, "gue"),
    ("b3", socket.AF_INET, socket.AF_INET6, "ipip"),
    ("b1", socket.AF_INET, socket.AF_INET6, "gue"),
    ("b2", socket.AF_INET6, socket.AF_INET, "ipip"),
    ("b3", socket.AF_INET6, socket.AF_INET, "gue"),
]


@pytest.mark.parametrize("backend,outer,inner,encap", PAIRINGS,
                         ids=[f"{b}-outer{4 if o == socket.AF_INET else 6}-"
                              f"inner{4 if i == socket.AF_INET else 6}-{e}"
                              for b, o, i, e in PAIRINGS])
def test_backends_decapsulate_every_pairing_and_answer_the_client(testbed, backend, outer,
                                                                  inner, encap):
    client_address = CLIENT_ADDR6 if inner == socket.AF_INET6 else CLIENT_ADDR
    vip = VIP6 if inner == socket.AF_INET6 else VIP4

    def open_client():
        sock = socket.socket(inner, socket.SOCK_DGRAM)
        sock.bind((client_address, 0))
        sock.settimeout(WAIT_SECONDS)
        return sock
    client = in_netns(testbed.ns("client"), open_client)
    try:
        sport = client.getsockname()[1]
        text = f"via {encap} to {backend}"
        packet = inner_datagram(inner, sport, text)
        destination = BACKENDS6[backend] if outer == socket.AF_INET6 else BACKENDS[backend]
        if encap == "gue":
            send_from_lb(testbed, outer, socket.IPPROTO_UDP, packet, destination, GUE_PORT)
        else:
            proto = socket.IPPROTO_IPV6 if inner == socket.AF_INET6 else socket.IPPROTO_IPIP
            send_from_lb(testbed, outer, proto, packet, destination)
        data, sender = client.recvfrom(65535)
    finally:
        client.close()
    peer = f"[{client_address}]:{sport}" if inner == socket.AF_INET6 else f"{client_address}:{sport}"
    assert data.decode() == f"backend {backend} client {peer} {text}"
    # Direct server return: from the VIP, not the backend's own address.
    assert sender[:2] == (vip, UDP_PORT)
