"""End-to-end: real kernel clients and servers in network namespaces, with
dplb between them on net_af_packet (scripts/testbed).

One testbed and one dplb serve the whole session; both are torn down by
finalizers however the tests end. The session's namespaces are named
dplb-e<pid>-*, so a session never touches the demo's testbed or another
session's. dplb runs with --no-huge and its own --file-prefix.

What is proven here:
- every HTTP request through the VIP is answered (curl), and the spread of
  1,000 new connections matches the weights within 5 percentage points;
- every packet of each connection (or UDP flow) reaches one backend, the one
  that answered: checked on the wire in front of dplb;
- the same for UDP through a UDP VIP tunnelled in GUE;
- long-lived connections survive reloads that add a backend or change
  weights; only connections to a backend removed by a reload may break;
- dplb answers ping (its address and a VIP) and ARP for its address, and
  resolves the backends by ARP;
- packets toward a next hop that never answers ARP are counted
  (no_next_hop) and never sent.

The spread tests use fixed, seeded source ports, so their outcome depends on
dplb's hashing alone, not on chance or timing. Everything else waits by
polling with generous deadlines.

Environment: DPLB_BUILD (default build/) names the build to test.
DPLB_E2E_STATIC_MACS=1 runs against a dplb that cannot do ARP: backends get
mac=... and the client a static neighbour entry, and the tests of dplb's own
ARP and ICMP answers are skipped (they carry the `needs_neighbor` mark).

Run as root:  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e
"""

import collections
import os
import random
import socket

import pytest

from harness.e2e_testbed import (BACKENDS, CLIENT_ADDR, CLIENT_MAC, LB_ADDR, LB_MAC, NAME_OF,
                                 ETH_P_ARP, KeepAliveClient, Sniffer, backends_by_flow,
                                 config_text, dplb_running, in_netns, mac_bytes, parse_frame,
                                 parse_identity, running_testbed, udp_from_ports, wait_for)

STATIC_MACS = os.environ.get("DPLB_E2E_STATIC_MACS") == "1"

# dplb's own ARP and ICMP answers (lib/control/neighbor.c, lib/packet/arp.h, lib/packet/icmp.h).
needs_neighbor = pytest.mark.skipif(
    STATIC_MACS, reason="DPLB_E2E_STATIC_MACS=1: testing a dplb without ARP/ICMP answers")

B1, B2, B3 = BACKENDS["b1"], BACKENDS["b2"], BACKENDS["b3"]
WEB_VIP, DNS_VIP, STICKY_VIP, NOWHERE_VIP = ("198.18.1.80", "198.18.1.53", "198.18.1.70",
                                            "198.18.1.99")
NOWHERE_BACKEND = "198.18.0.99"  # on the segment, but nobody answers ARP for it

WEB_WEIGHTS = {B1: 1, B2: 2, B3: 2}
DNS_WEIGHTS = {B1: 1, B2: 1, B3: 2}
STICKY_BASE = {B1: 1, B2: 1}
SPREAD_TOLERANCE = 5.0  # percentage points
REQUESTS = 1000
MARKER_PORT = 9999  # outside the ranges the spread tests draw from


def make_config(sticky=None):
    return config_text([
        ("web", WEB_VIP, 80, "tcp", "ipip", WEB_WEIGHTS),
        ("dns", DNS_VIP, 53, "udp", "gue", DNS_WEIGHTS),
        ("sticky", STICKY_VIP, 80, "tcp", "ipip", sticky or STICKY_BASE),
        ("nowhere", NOWHERE_VIP, 53, "udp", "ipip", {NOWHERE_BACKEND: 1}),
    ], static_macs=STATIC_MACS)


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def testbed():
    with running_testbed(f"dplb-e{os.getpid()}-", tools=("ip", "ethtool", "curl", "ping"),
                    static_neigh=STATIC_MACS) as tb:
        yield tb


def _backends_resolved(lb):
    if not STATIC_MACS:
        # The web VIP's three backends, learned by ARP before any test
        # sends traffic to them.
        wait_for(lambda: lb.stats()["arp_answers_learned"] >= 3,
                 "dplb to resolve the three backends by ARP")


@pytest.fixture(scope="session")
def dplb(testbed, tmp_path_factory):
    with dplb_running(testbed, tmp_path_factory.mktemp("dplb"), make_config(),
                      ready=_backends_resolved) as lb:
        yield lb


@pytest.fixture
def lb(dplb):
    """The session's dplb, checked alive before and after each test, with
    the standard configuration back in place after a test that reloads."""
    assert dplb.running(), dplb.output()
    original = dplb.config_path.read_text()
    yield dplb
    assert dplb.running(), dplb.output()
    if dplb.config_path.read_text() != original:
        dplb.reload(original)


def assert_spread(counts, weights, total):
    total_weight = sum(weights.values())
    report = {NAME_OF[b]: f"{100.0 * counts.get(NAME_OF[b], 0) / total:.1f}% "
                          f"(want {100.0 * w / total_weight:.1f}%)"
              for b, w in weights.items()}
    for backend, weight in weights.items():
        share = 100.0 * counts.get(NAME_OF[backend], 0) / total
        expected = 100.0 * weight / total_weight
        assert abs(share - expected) <= SPREAD_TOLERANCE, report


# --------------------------------------------------------------------- HTTP


def test_every_http_request_through_the_vip_is_answered(testbed, lb):
    """1,000 requests with curl, each on its own connection; each answered,
    and each connection's packets all went to the backend that answered."""
    sniffer = Sniffer(testbed)
    try:
        res = testbed.exec("client", "curl", "-sS", "--max-time", "600",
                           "-H", "Connection: close", "-w", "%{http_code} %{local_port}\n",
                           f"http://{WEB_VIP}/e2e?[1-{REQUESTS}]", check=False, timeout=700)
        answers = []
        lines = res.stdout.splitlines()
        for body, status in zip(lines[0::2], lines[1::2]):
            name, port, number = parse_identity(body)
            code, local_port = status.split()
            assert code == "200" and int(local_port) == port and number == 1, (body, status)
            answers.append((name, port))
        assert res.returncode == 0 and len(answers) == REQUESTS, res.stderr[-2000:]
        assert {name for name, _ in answers} == set(BACKENDS)

        def flows_seen():
            flows = backends_by_flow(sniffer.snapshot())
            return flows if all((6, CLIENT_ADDR, port, WEB_VIP, 80) in flows
                                for _, port in answers) else None
        flows = wait_for(flows_seen, "every connection's packets on the wire")
    finally:
        sniffer.stop()
    for name, port in answers:
        assert flows[(6, CLIENT_ADDR, port, WEB_VIP, 80)] == {BACKENDS[name]}


def _http_from_ports(ports):
    """In the client namespace: one request per connection, from each of
    the given source ports. Returns Counter of backend names."""
    counts = collections.Counter()
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.settimeout(60)
            sock.bind((CLIENT_ADDR, port))
            sock.connect((WEB_VIP, 80))
            sock.sendall(b"GET /spread HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), data
        name, seen_port, _ = parse_identity(body.decode())
        assert seen_port == port
        counts[name] += 1
    return counts


def test_http_spread_matches_the_weights(testbed, lb):
    # Below the client's ephemeral range, so no port is in use already.
    ports = random.Random(80).sample(range(10000, 32768), REQUESTS)
    before = lb.stats()["new_flows"]
    counts = in_netns(testbed.ns("client"), _http_from_ports, ports)
    assert sum(counts.values()) == REQUESTS
    assert_spread(counts, WEB_WEIGHTS, REQUESTS)
    assert lb.stats()["new_flows"] >= before + REQUESTS


def test_large_uploads_and_downloads(testbed, lb, tmp_path):
    """Full-sized segments both ways: the client's route to the VIPs leaves
    room for the tunnel header, so nothing is too big for dplb."""
    upload = tmp_path / "upload"
    upload.write_bytes(os.urandom(3 << 20))
    res = testbed.exec("client", "curl", "-sS", "--max-time", "300", "--data-binary",
                       f"@{upload}", f"http://{WEB_VIP}/upload")
    assert res.stdout.endswith(f"received {3 << 20} bytes\n"), res.stdout
    res = testbed.exec("client", "curl", "-sS", "--max-time", "300", "-o", "/dev/null",
                       "-w", "%{size_download}", f"http://{WEB_VIP}/bytes/{8 << 20}")
    assert res.stdout == str(8 << 20)
    assert lb.drops()["too_big"] == 0


# ---------------------------------------------------------------------- UDP


def _udp_from_ports(ports, datagrams):
    """In the client namespace: from each source port, `datagrams` queries
    to the UDP VIP. Returns {port: [backend of each answer]}."""
    return udp_from_ports(CLIENT_ADDR, DNS_VIP, ports, datagrams)


def test_udp_through_a_udp_vip(testbed, lb):
    """1,000 UDP flows of three queries each, through GUE: every query
    answered, each flow on one backend (answers and wire agree), and the
    spread matches the weights."""
    ports = random.Random(53).sample(range(10000, 32768), REQUESTS)
    sniffer = Sniffer(testbed)
    try:
        answers = in_netns(testbed.ns("client"), _udp_from_ports, ports, 3)

        def flows_seen():
            flows = backends_by_flow(sniffer.snapshot())
            return flows if all((17, CLIENT_ADDR, p, DNS_VIP, 53) in flows
                                for p in ports) else None
        flows = wait_for(flows_seen, "every UDP flow on the wire")
    finally:
        sniffer.stop()
    counts = collections.Counter()
    for port, names in answers.items():
        assert len(set(names)) == 1, f"flow from port {port} answered by {names}"
        assert flows[(17, CLIENT_ADDR, port, DNS_VIP, 53)] == {BACKENDS[names[0]]}
        counts[names[0]] += 1
    assert_spread(counts, DNS_WEIGHTS, REQUESTS)


# ------------------------------------------------------------------ reloads


def open_connections(testbed, want_each=(), count=16, limit=120):
    """Long-lived connections to the sticky VIP, one request made on each:
    at least `count`, and more until each backend in want_each has 3."""
    connections = []
    while True:
        names = collections.Counter(name for _, name in connections)
        if len(connections) >= count and all(names[NAME_OF[b]] >= 3 for b in want_each):
            return connections
        assert len(connections) < limit, f"backends of {limit} connections: {names}"
        client = KeepAliveClient(testbed, STICKY_VIP)
        name, port, number = client.ask("/first")
        assert port == client.local_port and number == 1
        connections.append((client, name))


def still_served(connections, number):
    """Each connection makes request `number` and is answered by its own
    backend on the same server-side connection."""
    for client, name in connections:
        got, port, seen_number = client.ask(f"/again/{number}")
        assert (got, port, seen_number) == (name, client.local_port, number), \
            f"connection from port {client.local_port} moved from {name} to {got}"


# Source ports for new connections in the reload tests: seeded, each used
# once per session, below the ranges above, so that where new connections
# land depends on dplb's hashing only.
_fresh_ports = iter(random.Random(70).sample(range(1024, MARKER_PORT), MARKER_PORT - 1024))


def new_connection_backends(testbed, count):
    names = collections.Counter()
    for _ in range(count):
        client = KeepAliveClient(testbed, STICKY_VIP, local_port=next(_fresh_ports))
        try:
            names[client.ask("/new")[0]] += 1
        finally:
            client.close()
    return names


@pytest.fixture
def connections():
    opened = []
    yield opened
    for client, _ in opened:
        client.close()


def test_reload_adding_a_backend_keeps_long_lived_connections(testbed, lb, connections):
    lb.reload(make_config(STICKY_BASE))
    connections += open_connections(testbed, want_each=[B1, B2])
    lb.reload(make_config({B1: 1, B2: 1, B3: 1}))
    still_served(connections, 2)
    assert "b3" in new_connection_backends(testbed, 60)
    still_served(connections, 3)


def test_reload_changing_weights_keeps_long_lived_connections(testbed, lb, connections):
    lb.reload(make_config(STICKY_BASE))
    connections += open_connections(testbed, want_each=[B1, B2])
    lb.reload(make_config({B1: 1, B2: 4}))
    still_served(connections, 2)
    fresh = new_connection_backends(testbed, 80)
    assert fresh["b2"] > 2 * fresh["b1"], fresh
    still_served(connections, 3)


def test_reload_removing_a_backend_breaks_only_its_connections(testbed, lb, connections):
    lb.reload(make_config({B1: 1, B2: 1, B3: 1}))
    connections += open_connections(testbed, want_each=[B1, B2, B3])
    before = lb.stats()
    lb.reload(make_config({B1: 1, B3: 1}))
    kept = [(c, name) for c, name in connections if name != "b2"]
    removed = [(c, name) for c, name in connections if name == "b2"]
    still_served(kept, 2)
    # Allowed to break, and they do: their packets now reach a backend that
    # knows nothing of the connection, whose kernel resets it.
    broken = 0
    for client, _ in removed:
        client.sock.settimeout(10)
        try:
            client.ask("/after-removal")
        except OSError:
            broken += 1
    assert lb.stats()["flows_rescheduled"] >= before["flows_rescheduled"] + len(removed)
    assert "b2" not in new_connection_backends(testbed, 40)
    still_served(kept, 3)
    assert broken == len(removed) > 0


# ----------------------------------------------------- ARP, ICMP, next hops


@needs_neighbor
@pytest.mark.parametrize("target", [LB_ADDR, WEB_VIP], ids=["dplb", "vip"])
def test_ping_is_answered_by_dplb(testbed, lb, target):
    before = lb.stats()["icmp_echo_replies"]
    res = testbed.exec("client", "ping", "-n", "-c", "3", "-i", "0.2", "-w", "60", target,
                       check=False)
    assert res.returncode == 0 and " 3 received" in res.stdout, res.stdout + res.stderr
    assert lb.stats()["icmp_echo_replies"] >= before + 3


def _arp_exchange(targets):
    """In the client namespace: ask who has each target, in order, on
    eth0; return the ARP replies seen until one for the last target."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind(("eth0", ETH_P_ARP))
        sock.settimeout(2)
        client_mac, client_ip = mac_bytes(CLIENT_MAC), socket.inet_aton(CLIENT_ADDR)
        replies = []
        for _attempt in range(15):  # a lost request is sent again
            for target in targets:
                request = (b"\xff" * 6 + client_mac + b"\x08\x06" +
                           b"\x00\x01\x08\x00\x06\x04\x00\x01" + client_mac + client_ip +
                           b"\x00" * 6 + socket.inet_aton(target))
                sock.send(request)
            try:
                while True:
                    frame = sock.recv(2048)
                    info = parse_frame(frame)
                    if info["kind"] == "arp" and info["op"] == 2:
                        replies.append((info, frame))
                        if info["sender"] == targets[-1]:
                            return replies
            except socket.timeout:
                continue
        return replies


@needs_neighbor
def test_arp_for_dplbs_address_is_answered(testbed, lb):
    before = lb.stats()["arp_replies"]
    # Someone else's address first: dplb handles frames in order, so a
    # (wrong) answer to it would arrive before the answer about itself.
    replies = in_netns(testbed.ns("client"), _arp_exchange, ["198.18.0.77", LB_ADDR])
    assert replies, "no ARP reply for dplb's address"
    assert all(info["sender"] != "198.18.0.77" for info, _ in replies)
    info, frame = replies[-1]
    assert info["sender"] == LB_ADDR
    assert frame[22:28] == mac_bytes(LB_MAC)       # sender hardware address
    assert frame[0:6] == mac_bytes(CLIENT_MAC)     # unicast back to the asker
    assert frame[32:38] == mac_bytes(CLIENT_MAC)   # target hardware address
    assert socket.inet_ntoa(frame[38:42]) == CLIENT_ADDR
    assert lb.stats()["arp_replies"] >= before + 1


@needs_neighbor
def test_client_kernel_resolves_dplb_by_arp(testbed, lb):
    testbed.exec("client", "ip", "neigh", "flush", "to", LB_ADDR)
    res = testbed.exec("client", "curl", "-sS", "--max-time", "60", f"http://{WEB_VIP}/arp")
    assert res.stdout.startswith("backend ")
    neigh = testbed.exec("client", "ip", "neigh", "show", "to", LB_ADDR).stdout
    assert LB_MAC in neigh and "PERMANENT" not in neigh, neigh


@needs_neighbor
def test_dplb_resolved_the_backends_by_arp(lb):
    stats = lb.stats()
    assert stats["arp_requests_sent"] >= 3 and stats["arp_answers_learned"] >= 3, stats


def _send_to_nowhere(count):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(count):
            sock.sendto(b"nowhere %d" % i, (NOWHERE_VIP, 53))


def test_unresolvable_next_hop_is_counted_not_sent(testbed, lb):
    sniffer = Sniffer(testbed)
    try:
        before = lb.drops()["no_next_hop"]
        in_netns(testbed.ns("client"), _send_to_nowhere, 20)
        wait_for(lambda: lb.drops()["no_next_hop"] >= before + 20,
                 "20 drops for no next hop")
        if not STATIC_MACS:
            # dplb keeps asking for the missing next hop.
            wait_for(lambda: any(
                i["kind"] == "arp" and i["op"] == 1 and i["target"] == NOWHERE_BACKEND
                for i in map(parse_frame, sniffer.snapshot())),
                f"an ARP request for {NOWHERE_BACKEND}")
        # A flow that is served, sent after the others: once it is on the
        # wire, anything dplb sent before it has been captured too.
        in_netns(testbed.ns("client"), _udp_from_ports, [MARKER_PORT], 1)
        marker = (17, CLIENT_ADDR, MARKER_PORT, DNS_VIP, 53)
        wait_for(lambda: marker in backends_by_flow(sniffer.snapshot()), "the marker flow")
    finally:
        frames = sniffer.stop()
    for info in map(parse_frame, frames):
        assert info["dst_mac"] != b"\0" * 6, info
        assert not (info["kind"] == "tunnel" and info["dst"] == NOWHERE_VIP), info
        assert info.get("outer_dst") != NOWHERE_BACKEND, info
