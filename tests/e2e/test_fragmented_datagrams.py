"""End-to-end: IPv4 and IPv6 fragments through dplb (issue 11), with real
kernels on both sides (scripts/testbed, a testbed of its own: namespaces
dplb-f<pid>-*).

The client's route to the VIPs has an MTU of 1472 (1452 for IPv6), so its
kernel sends a 4 KB UDP datagram in three fragments; only the first carries
the ports.
dplb must send all three to one backend, whose kernel reassembles the
datagram (after dplb-decap hands the fragments to it one by one) and its
UDP echo server answers with the whole of it. A fragment sent anywhere
else loses the datagram: no answer.

dplb drives eth0 through libpcap here (harness.e2e_testbed.PCAP_VDEV), not
net_af_packet, whose socket has the kernel reassemble fragments before dplb
sees them.

What is proven: datagrams of 4 and 8 KB to a round-robin VIP (where only
following the first fragment keeps a datagram together: each datagram is a
new flow, and the next pick is another backend) and to a Maglev VIP over
GUE are each answered whole, the round-robin VIP's by every backend in
turn, and dplb counts first fragments and the fragments that followed
them, none sent by the fallback hash. The same over IPv6: a round-robin
IPv6 VIP with IPv6 backends (IPv6 in IPv6) and one with IPv4 backends over
GUE (IPv6 in IPv4), the backends' kernels reassembling.

Run as root:
  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_fragmented_datagrams.py
"""

import collections
import os
import random
import socket

import pytest

from harness.e2e_testbed import (BACKENDS, BACKENDS6, CLIENT_ADDR, CLIENT_ADDR6, LB_ADDR6,
                                 PCAP_VDEV, PREFIX_LENGTH6, config_text, dplb_running, in_netns,
                                 parse_identity, running_testbed, wait_for)

ROUND_ROBIN_VIP, MAGLEV_VIP = "198.18.1.54", "198.18.1.53"
# Round-robin both: IPv6 backends (IPv6 in IPv6), IPv4 ones over GUE.
ROUND_ROBIN_VIP6, MIXED_VIP6 = "fd00:db1b:1::54", "fd00:db1b:1::55"


def make_config():
    everyone = {address: 1 for address in BACKENDS.values()}
    everyone6 = {address: 1 for address in BACKENDS6.values()}
    text = config_text([("rr", ROUND_ROBIN_VIP, 53, "udp", "ipip", everyone),
                        ("dns", MAGLEV_VIP, 53, "udp", "gue", everyone),
                        ("rr6", ROUND_ROBIN_VIP6, 53, "udp", "ipip", everyone6),
                        ("mixed6", MIXED_VIP6, 53, "udp", "gue", everyone)])
    # config_text writes maglev for every VIP: the dns VIP keeps it.
    sections = text.split("[vip:")
    text = "[vip:".join(section if section.startswith("dns]") else
                        section.replace("scheduler = maglev", "scheduler = round-robin")
                        for section in sections)
    return text.replace("[dataplane]\n", f"[dataplane]\naddress6 = {LB_ADDR6}\n"
                        f"prefix_length6 = {PREFIX_LENGTH6}\n", 1)


@pytest.fixture(scope="module")
def testbed():
    with running_testbed(f"dplb-f{os.getpid()}-", tools=("ip", "ethtool")) as tb:
        yield tb


@pytest.fixture(scope="module")
def lb(testbed, tmp_path_factory):
    def resolved(lb):
        wait_for(lambda: lb.stats()["arp_answers_learned"] >= 3,
                 "dplb to resolve the three backends by ARP")
        wait_for(lambda: lb.stats()["nd_advertisements_learned"] >= 3,
                 "dplb to resolve the three IPv6 backends by neighbor discovery")

    with dplb_running(testbed, tmp_path_factory.mktemp("dplb"), make_config(),
                      ready=resolved, vdev=PCAP_VDEV) as running:
        yield running


def _big_datagrams(vip, ports, size):
    """In the client namespace: from each source port, one datagram of size
    bytes to vip:53. Returns {port: the backend that echoed it whole}."""
    answered = {}
    six = ":" in vip
    for port in ports:
        payload = bytes(65 + (port + k) % 26 for k in range(size))
        with socket.socket(socket.AF_INET6 if six else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((CLIENT_ADDR6 if six else CLIENT_ADDR, port))
            sock.connect((vip, 53))
            sock.settimeout(2)
            for _attempt in range(10):  # a fragment lost on the way loses it all
                sock.send(payload)
                try:
                    answer = sock.recv(65536)
                    break
                except socket.timeout:
                    continue
            else:
                raise AssertionError(f"no answer to {size} bytes to {vip} from port {port}")
        # "backend b1 client ADDRESS:PORT " and the datagram, whole.
        assert answer.endswith(b" " + payload), f"{vip} from {port}: the datagram arrived cut"
        name, seen_port, _ = parse_identity(b" ".join(answer.split(b" ", 4)[:4]).decode())
        assert seen_port == port
        answered[port] = name
    return answered


# Each family's VIPs, and the bytes of datagram each fragment but the last
# carries: the route's MTU (1472, 1452) less the IP header and, for IPv6,
# the fragment header, rounded down to 8.
FAMILIES = {
    "ipv4": ((ROUND_ROBIN_VIP, MAGLEV_VIP), 1448),
    "ipv6": ((ROUND_ROBIN_VIP6, MIXED_VIP6), 1400),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size,first_port", [(4096, 10000), (8000, 20000)])
def test_fragmented_datagrams_reach_one_backend_whole(testbed, lb, family, size, first_port):
    vips, piece = FAMILIES[family]
    # Ports of their own for each size and family: every datagram is a
    # new flow.
    first_port += 20000 if family == "ipv6" else 0
    ports = random.Random(size).sample(range(first_port, first_port + 10000), 30)
    before = lb.stats()
    by_vip = {vip: in_netns(testbed.ns("client"), _big_datagrams, vip, ports, size)
              for vip in vips}
    after = lb.stats()
    # Round-robin: every datagram a new flow, the backends in turn. The
    # IPv4 Maglev VIP's datagrams just each reach one backend whole.
    for vip in vips:
        if vip == MAGLEV_VIP:
            assert set(by_vip[vip].values()) <= set(BACKENDS)
        else:
            assert set(collections.Counter(by_vip[vip].values()).values()) == {10}, vip
    datagrams = 2 * len(ports)
    later = (size + 8 + piece - 1) // piece - 1  # fragments after the first
    assert after["fragments_first"] - before["fragments_first"] >= datagrams
    followed = sum(after[k] - before[k] for k in ("fragments_followed", "fragments_released"))
    assert followed >= later * datagrams
    assert after["fragments_hashed"] == before["fragments_hashed"]
    drops = lb.drops()
    assert drops["bad_length"] == drops["fragment"] == drops["too_big"] == 0
