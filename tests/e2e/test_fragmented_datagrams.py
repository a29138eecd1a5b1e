"""End-to-end: IPv4 fragments through dplb (issue 11), with real kernels on
both sides (scripts/testbed, a testbed of its own: namespaces
dplb-f<pid>-*).

The client's route to the VIPs has an MTU of 1472, so its kernel sends a
4 KB UDP datagram in three fragments; only the first carries the ports.
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
them, none sent by the fallback hash.

Run as root:
  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_fragmented_datagrams.py
"""

import collections
import os
import random
import socket

import pytest

from harness.e2e_testbed import (BACKENDS, CLIENT_ADDR, PCAP_VDEV, config_text, dplb_running,
                                 in_netns, parse_identity, running_testbed, wait_for)

ROUND_ROBIN_VIP, MAGLEV_VIP = "198.18.1.54", "198.18.1.53"


def make_config():
    everyone = {address: 1 for address in BACKENDS.values()}
    text = config_text([("rr", ROUND_ROBIN_VIP, 53, "udp", "ipip", everyone),
                        ("dns", MAGLEV_VIP, 53, "udp", "gue", everyone)])
    # The first VIP's scheduler (config_text writes maglev for every VIP).
    return text.replace("scheduler = maglev", "scheduler = round-robin", 1)


@pytest.fixture(scope="module")
def testbed():
    with running_testbed(f"dplb-f{os.getpid()}-", tools=("ip", "ethtool")) as tb:
        yield tb


@pytest.fixture(scope="module")
def lb(testbed, tmp_path_factory):
    def resolved(lb):
        wait_for(lambda: lb.stats()["arp_answers_learned"] >= 3,
                 "dplb to resolve the three backends by ARP")

    with dplb_running(testbed, tmp_path_factory.mktemp("dplb"), make_config(),
                      ready=resolved, vdev=PCAP_VDEV) as running:
        yield running


def _big_datagrams(vip, ports, size):
    """In the client namespace: from each source port, one datagram of size
    bytes to vip:53. Returns {port: the backend that echoed it whole}."""
    answered = {}
    for port in ports:
        payload = bytes(65 + (port + k) % 26 for k in range(size))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((CLIENT_ADDR, port))
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


@pytest.mark.parametrize("size,first_port", [(4096, 10000), (8000, 20000)])
def test_fragmented_datagrams_reach_one_backend_whole(testbed, lb, size, first_port):
    # Ports of their own for each size: every datagram is a new flow.
    ports = random.Random(size).sample(range(first_port, first_port + 10000), 30)
    before = lb.stats()
    by_vip = {vip: in_netns(testbed.ns("client"), _big_datagrams, vip, ports, size)
              for vip in (ROUND_ROBIN_VIP, MAGLEV_VIP)}
    after = lb.stats()
    # Round-robin: every datagram a new flow, the backends in turn.
    assert set(collections.Counter(by_vip[ROUND_ROBIN_VIP].values()).values()) == {10}
    assert set(by_vip[MAGLEV_VIP].values()) <= set(BACKENDS)
    datagrams = 2 * len(ports)
    later = (size + 8 + 1447) // 1448 - 1  # fragments after the first, 1448 bytes each
    assert after["fragments_first"] - before["fragments_first"] >= datagrams
    followed = sum(after[k] - before[k] for k in ("fragments_followed", "fragments_released"))
    assert followed >= later * datagrams
    assert after["fragments_hashed"] == before["fragments_hashed"]
    drops = lb.drops()
    assert drops["bad_length"] == drops["fragment"] == drops["too_big"] == 0
