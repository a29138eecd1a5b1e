"""End-to-end tests for dplb-decap against the real kernel.

A sends IP-in-IP and GUE packets to B, as dplb would; dplb-decap in B writes
the inner packets to its TUN device; sockets in B bound to the VIP must
receive them, and a TCP SYN must be answered straight back to A (direct
server return). Malformed inner packets must be dropped and counted by
reason while the program keeps running. Every pairing of families is
tried: the outer header IPv4 or IPv6 (the backend's address), the inner
packet IPv4 or IPv6 (the VIP's).

Sockets are opened inside a namespace by a short-lived thread that setns()es
first: a socket belongs to the namespace it was created in, whichever thread
uses it later, so the tests drive sockets in A and B directly and need no
helper processes or readiness handshakes. Everything lives in this one file
so that no other conftest.py in the tree can shadow its helpers.

Run as root:  DPLB_DECAP=build/decap/dplb-decap python3 -m pytest tests/decap
(DPLB_DECAP defaults to build/decap/dplb-decap under the repository root.)
"""

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

from harness.polling import wait_for as poll_until

REPO_ROOT = Path(__file__).resolve().parents[2]

# Documentation ranges (RFC 5737), used only inside our own namespaces.
A_ADDR = "198.51.100.1"
B_ADDR = "198.51.100.2"
VIP = "203.0.113.10"
# IPv6: a documentation prefix (RFC 3849) likewise.
A_ADDR6 = "2001:db8:d1b::1"
B_ADDR6 = "2001:db8:d1b::2"
VIP6 = "2001:db8:d1b:10::10"
A_MAC = "02:00:5e:00:00:0a"
B_MAC = "02:00:5e:00:00:0b"
GUE_PORT = 6080

# Upper bound for anything we wait on; waits poll and return as soon as the
# condition holds, so a healthy run never sleeps this long.
TIMEOUT = 15.0

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def run(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True,
                          text=True, timeout=60)


def wait_for(predicate, what, timeout=TIMEOUT, interval=0.02):
    """Poll predicate until it returns a true value; fail after timeout."""
    return poll_until(predicate, what, timeout=timeout, interval=interval)


def netns_socket(ns, family, type_, proto=0):
    """Create a socket in network namespace ns."""
    result = {}

    def target():
        try:
            with open(f"/run/netns/{ns}", "rb") as f:
                if _libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            result["sock"] = socket.socket(family, type_, proto)
        except BaseException as e:  # re-raised in the caller's thread
            result["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]


class Net:
    """The namespace pair, and ways to send tunnelled packets from A to B."""

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def send_ipip(self, inner, ip_options=None, proto=None):
        """IPv4 outer. The kernel in A adds the outer header itself, with
        protocol 4 for an IPv4 inner packet and 41 for an IPv6 one (or
        proto, to lie about it)."""
        proto = proto or inner_protocol(inner)
        with netns_socket(self.a, socket.AF_INET, socket.SOCK_RAW,
                          proto) as s:
            if ip_options:
                s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS,
                             ip_options)
            s.sendto(inner, (B_ADDR, 0))

    def send_ipip6(self, inner, proto=None):
        """IPv6 outer, next header 4 or 41 as send_ipip."""
        proto = proto or inner_protocol(inner)
        with netns_socket(self.a, socket.AF_INET6, socket.SOCK_RAW,
                          proto) as s:
            s.sendto(inner, (B_ADDR6, 0))

    def send_gue(self, payload, port=GUE_PORT):
        with netns_socket(self.a, socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(payload, (B_ADDR, port))

    def send_gue6(self, payload, port=GUE_PORT):
        with netns_socket(self.a, socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.sendto(payload, (B_ADDR6, port))


def inner_protocol(inner):
    """The IP protocol number that carries inner: 4 (IPv4) or 41 (IPv6)."""
    return socket.IPPROTO_IPV6 if inner[:1] and inner[0] >> 4 == 6 else socket.IPPROTO_IPIP


@pytest.fixture(scope="session")
def decap_binary():
    path = Path(os.environ.get("DPLB_DECAP",
                               REPO_ROOT / "build" / "decap" / "dplb-decap"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not os.access(path, os.X_OK):
        pytest.fail(f"dplb-decap binary not found at {path}; "
                    "build it or set DPLB_DECAP")
    return path


@pytest.fixture(scope="module")
def net():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    tag = f"{os.getpid()}-{secrets.token_hex(3)}"
    a, b = f"dplb-t-{tag}-a", f"dplb-t-{tag}-b"
    created = []
    try:
        for ns in (a, b):
            run("ip", "netns", "add", ns)
            created.append(ns)
            # IPv6 on, whatever the host's defaults for new namespaces;
            # the TUN device made later takes 'default'.
            run("ip", "netns", "exec", ns, "sysctl", "-qw",
                "net.ipv6.conf.all.disable_ipv6=0",
                "net.ipv6.conf.default.disable_ipv6=0")
        # Both ends are made directly inside their namespaces, so nothing
        # ever appears in the host's.
        run("ip", "-n", a, "link", "add", "veth-a", "address", A_MAC,
            "type", "veth", "peer", "name", "veth-b", "address", B_MAC,
            "netns", b)
        for ns, dev, addr, addr6 in ((a, "veth-a", A_ADDR, A_ADDR6),
                                     (b, "veth-b", B_ADDR, B_ADDR6)):
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            # nodad: usable at once, not after duplicate detection.
            run("ip", "-n", ns, "addr", "add", f"{addr6}/64", "dev", dev,
                "nodad")
            run("ip", "-n", ns, "link", "set", dev, "up")
        # Static neighbours: no ARP or ND round trip that could queue or
        # lose the first packets.
        for ns, dev, addr, mac in ((a, "veth-a", B_ADDR, B_MAC),
                                   (b, "veth-b", A_ADDR, A_MAC),
                                   (a, "veth-a", B_ADDR6, B_MAC),
                                   (b, "veth-b", A_ADDR6, A_MAC)):
            run("ip", "-n", ns, "neigh", "replace", addr, "lladdr", mac,
                "dev", dev, "nud", "permanent")
        # The backend set-up the usage text asks for: VIPs on lo, and no
        # strict reverse-path filter on the TUN devices created later.
        run("ip", "-n", b, "addr", "add", f"{VIP}/32", "dev", "lo")
        run("ip", "-n", b, "addr", "add", f"{VIP6}/128", "dev", "lo",
            "nodad")
        for key in ("all", "default"):
            run("ip", "netns", "exec", b, "sysctl", "-qw",
                f"net.ipv4.conf.{key}.rp_filter=0")
        yield Net(a, b)
    finally:
        for ns in created:
            run("ip", "netns", "del", ns, check=False)


class Decap:
    """One dplb-decap process running in namespace B."""

    _seq = 0

    def __init__(self, binary, net, workdir, args, tun=None):
        Decap._seq += 1
        self.net = net
        # A fresh name per run: no dependence on how soon the kernel has
        # removed the previous run's device.
        self.tun = tun or f"dplbdc{os.getpid() % 10000}x{Decap._seq}"
        self.stats_path = workdir / f"stats-{Decap._seq}"
        self.stderr_path = workdir / f"stderr-{Decap._seq}"
        self.argv = ["ip", "netns", "exec", net.b, str(binary),
                     "-i", self.tun, "-s", str(self.stats_path)] + list(args)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        with open(self.stderr_path, "wb") as err:
            # ip netns exec execs the binary, so this pid is dplb-decap's.
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err, env=env)
        self.returncode = None

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"dplb-decap exited {self.proc.returncode}:\n"
                            + self.stderr())
            return "dplb-decap: ready:" in self.stderr()
        wait_for(ready, "dplb-decap to start")
        # The kernel takes the larger of 'all' and the device's rp_filter;
        # default=0 already covers new devices, this also covers an
        # attached, pre-existing one.
        run("ip", "netns", "exec", self.net.b, "sysctl", "-qw",
            f"net.ipv4.conf.{self.tun}.rp_filter=0")

    def running(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        """Stop with sig; return the stats file as a dict."""
        self.proc.send_signal(sig)
        self.returncode = self.proc.wait(timeout=TIMEOUT)
        err = self.stderr()
        assert "AddressSanitizer" not in err, err
        assert "runtime error:" not in err, err
        assert self.returncode == 0, err
        return parse_stats(self.stats_path.read_text())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)


def parse_stats(text):
    stats = {}
    for line in text.splitlines():
        key, value = line.split()
        stats[key] = int(value)
    return stats


@pytest.fixture
def decap(decap_binary, net, tmp_path):
    """Factory: decap(*args) starts dplb-decap in B and waits until ready."""
    started = []

    def start(*args, tun=None):
        d = Decap(decap_binary, net, tmp_path, args, tun)
        started.append(d)
        d.wait_ready()
        return d

    yield start
    for d in started:
        d.kill()


@pytest.fixture
def ns_socket():
    """Factory: ns_socket(ns, family, type, proto) -> socket in ns, closed
    when the test ends so the next test can bind the same port."""
    opened = []

    def make(ns, family, type_, proto=0):
        s = netns_socket(ns, family, type_, proto)
        opened.append(s)
        s.settimeout(TIMEOUT)
        return s

    yield make
    for s in opened:
        s.close()


# ---------------------------------------------------------------- packets

UDP_PORT = 5353
TCP_PORT = 8080

COUNTER_KEYS = [
    "rx_ipip", "rx_ipip6", "rx_gue", "rx_gue6", "tx_tun", "tx_tun6",
    "drop_outer_header", "drop_gue_header", "drop_gue_control",
    "drop_inner_truncated", "drop_inner_version", "drop_inner_ihl",
    "drop_inner_length", "drop_inner_checksum", "drop_inner6_truncated",
    "drop_not_vip", "drop_tun_write", "drop_total",
]

GUE_V0 = b"\x00\x04\x00\x00"          # ver 0, C 0, hlen 0, proto 4 (IPIP)
GUE_V0_6 = b"\x00\x29\x00\x00"        # ver 0, C 0, hlen 0, proto 41 (IPv6)


def udp_inner(payload, dst=VIP, dport=UDP_PORT, sport=40000):
    return bytes(IP(src=A_ADDR, dst=dst, id=7) /
                 UDP(sport=sport, dport=dport) / Raw(payload))


def udp_inner6(payload, dst=VIP6, dport=UDP_PORT, sport=40000):
    return bytes(IPv6(src=A_ADDR6, dst=dst) /
                 UDP(sport=sport, dport=dport) / Raw(payload))


def patch(pkt, offset, value):
    return pkt[:offset] + bytes(value) + pkt[offset + len(value):]


def gue_v0(inner, hlen=0):
    """A GUE variant 0 header for inner (proto 4 or 41) and hlen extension
    words of filler."""
    return bytes([hlen, inner_protocol(inner), 0, 0]) + b"\xaa" * 4 * hlen + inner


# Each way of carrying an inner packet that dplb-decap must accept, and the
# counter of what it arrived as. Each takes an inner packet of either family.
ENCAPS = {
    "ipip": (lambda net, inner: net.send_ipip(inner), "rx_ipip"),
    # Outer header with options (IHL 6): stripping must follow the IHL.
    "ipip-options": (lambda net, inner: net.send_ipip(
        inner, ip_options=b"\x01\x01\x01\x00"), "rx_ipip"),
    "gue-v1": (lambda net, inner: net.send_gue(inner), "rx_gue"),
    "gue-v0": (lambda net, inner: net.send_gue(gue_v0(inner)), "rx_gue"),
    # Variant 0 with two extension words (hlen 2) to skip.
    "gue-v0-ext": (lambda net, inner: net.send_gue(gue_v0(inner, 2)),
                   "rx_gue"),
    # The outer header IPv6: next header 4 or 41, or GUE over UDP6.
    "ipip6": (lambda net, inner: net.send_ipip6(inner), "rx_ipip6"),
    "gue6-v1": (lambda net, inner: net.send_gue6(inner), "rx_gue6"),
    "gue6-v0": (lambda net, inner: net.send_gue6(gue_v0(inner)), "rx_gue6"),
}

# The inner packet's family: a UDP datagram to the VIP, and the listener
# that must receive it.
INNERS = {
    "inner4": (udp_inner, socket.AF_INET, VIP, A_ADDR),
    "inner6": (udp_inner6, socket.AF_INET6, VIP6, A_ADDR6),
}


def expect_stats(stats, **expected):
    """Every counter the program reports must match; unnamed ones are 0."""
    assert sorted(stats) == sorted(COUNTER_KEYS)
    want = {key: 0 for key in COUNTER_KEYS}
    want.update(expected)
    want["drop_total"] = sum(v for k, v in want.items()
                             if k.startswith("drop_") and k != "drop_total")
    assert stats == want


def received(sock):
    """The next datagram's payload, waiting up to the socket's timeout."""
    return sock.recvfrom(65535)[0]


# ---------------------------------------------------------------- usage


def test_help_exits_zero(decap_binary):
    res = subprocess.run([str(decap_binary), "-h"], capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert res.returncode == 0
    assert res.stdout.startswith("Usage: dplb-decap")
    assert "rp_filter" in res.stdout and "dev lo" in res.stdout
    for key in COUNTER_KEYS:
        assert key in res.stdout


@pytest.mark.parametrize("args", [
    ["-g", "0"], ["-g", "65536"], ["-g", "80x"], ["-g", "1", "-G"],
    ["-G", "-I"], ["-v", "203.0.113.300"], ["-v", "2001:db8::x"],
    ["-b", "nope"], ["-b", "192.0.2.1", "-b", "192.0.2.2"],
    ["-b", "::1", "-b", "::2"], ["-4", "-b", "::1"],
    ["-i", "x" * 16], ["-i", ""], ["extra"], ["-z"],
])
def test_bad_arguments_exit_two(decap_binary, args):
    res = subprocess.run([str(decap_binary)] + args, capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert res.returncode == 2, res.stderr
    assert res.stderr


# ------------------------------------------------------------- delivery


@pytest.mark.parametrize("inner", sorted(INNERS))
@pytest.mark.parametrize("encap", sorted(ENCAPS))
def test_udp_reaches_vip_listener(net, decap, ns_socket, encap, inner):
    d = decap()
    make, family, vip, client = INNERS[inner]
    listener = ns_socket(net.b, family, socket.SOCK_DGRAM)
    listener.bind((vip, UDP_PORT))

    payload = f"hello via {encap} {inner}".encode()
    send, rx = ENCAPS[encap]
    send(net, make(payload, sport=40001))

    data, addr = listener.recvfrom(65535)
    assert data == payload
    assert addr[:2] == (client, 40001)  # the client's address, untouched
    tx6 = 1 if family == socket.AF_INET6 else 0
    expect_stats(d.stop(), **{rx: 1, "tx_tun": 1, "tx_tun6": tx6})


def test_padding_after_total_length_is_accepted(net, decap, ns_socket):
    d = decap()
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))

    listener6 = ns_socket(net.b, socket.AF_INET6, socket.SOCK_DGRAM)
    listener6.bind((VIP6, UDP_PORT))

    net.send_gue(udp_inner(b"padded") + b"\x00" * 6)
    net.send_ipip(udp_inner(b"padded too") + b"\xff" * 3)
    # IPv6: beyond 40 bytes + payload length is padding too.
    net.send_gue6(udp_inner6(b"padded six") + b"\x00" * 5)
    net.send_ipip6(udp_inner6(b"padded six too") + b"\xee" * 2)

    got = {received(listener), received(listener)}
    assert got == {b"padded", b"padded too"}
    got6 = {received(listener6), received(listener6)}
    assert got6 == {b"padded six", b"padded six too"}
    expect_stats(d.stop(), rx_gue=1, rx_ipip=1, rx_gue6=1, rx_ipip6=1,
                 tx_tun=4, tx_tun6=2)


@pytest.mark.parametrize("encap", ["ipip", "gue-v1", "ipip6", "gue6-v1"])
@pytest.mark.parametrize("inner", ["inner4", "inner6"])
def test_tcp_syn_answered_directly_to_client(net, decap, ns_socket, encap,
                                             inner):
    """The kernel in B, not dplb-decap, answers: the SYN-ACK comes from the
    VIP and goes straight to A over the veth, never back through a tunnel."""
    d = decap()
    _, family, vip, client = INNERS[inner]
    server = ns_socket(net.b, family, socket.SOCK_STREAM)
    server.bind((vip, TCP_PORT))
    server.listen(8)
    # A raw TCP socket in A sees every TCP segment A receives, before A's
    # kernel answers the unexpected SYN-ACK with a RST. An IPv6 one gets
    # the segment without its IP header, and the source in the address.
    sniffer = ns_socket(net.a, family, socket.SOCK_RAW, socket.IPPROTO_TCP)

    sport, seq = 42000 + len(encap) + 10 * len(inner), 0x1234567
    tcp = TCP(sport=sport, dport=TCP_PORT, flags="S", seq=seq, window=64240,
              options=[("MSS", 1400)])
    syn = bytes((IP(src=client, dst=vip) if family == socket.AF_INET
                 else IPv6(src=client, dst=vip)) / tcp)
    send, rx = ENCAPS[encap]
    send(net, syn)

    deadline = time.monotonic() + TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail("no SYN-ACK reached A")
        sniffer.settimeout(remaining)
        data, addr = sniffer.recvfrom(65535)
        if family == socket.AF_INET:
            reply = IP(data)
            # Plain TCP, not tunnelled.
            assert reply.proto == socket.IPPROTO_TCP
            src, dst, segment = reply.src, reply.dst, reply[TCP]
        else:
            src, dst, segment = addr[0], client, TCP(data)
        if segment.dport == sport:
            break

    assert src == vip and dst == client
    assert segment.sport == TCP_PORT
    assert segment.flags == "SA"
    assert segment.ack == seq + 1
    tx6 = 1 if family == socket.AF_INET6 else 0
    expect_stats(d.stop(), **{rx: 1, "tx_tun": 1, "tx_tun6": tx6})


def test_attaches_to_existing_tun(net, decap, ns_socket):
    """An operator-made persistent TUN device is attached to and brought
    up, and outlives the program."""
    tun = "dplbdc-persist"
    run("ip", "-n", net.b, "tuntap", "add", "dev", tun, "mode", "tun")
    try:
        d = decap(tun=tun)
        listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
        listener.bind((VIP, UDP_PORT))
        net.send_gue(udp_inner(b"persistent"))
        assert received(listener) == b"persistent"
        expect_stats(d.stop(), rx_gue=1, tx_tun=1)
        run("ip", "-n", net.b, "link", "show", "dev", tun)
    finally:
        run("ip", "-n", net.b, "tuntap", "del", "dev", tun, "mode", "tun",
            check=False)


# ---------------------------------------------------------------- drops


# How a malformed case is sent (each its own socket in B, read in order),
# and the counter it arrives under.
SENDERS = {
    "gue": (lambda net, pkt: net.send_gue(pkt), "rx_gue"),
    "gue6": (lambda net, pkt: net.send_gue6(pkt), "rx_gue6"),
    "ipip": (lambda net, pkt: net.send_ipip(pkt, proto=4), "rx_ipip"),
    "ipip41": (lambda net, pkt: net.send_ipip(pkt, proto=41), "rx_ipip"),
    "ipip6": (lambda net, pkt: net.send_ipip6(pkt, proto=4), "rx_ipip6"),
    "ipip6-41": (lambda net, pkt: net.send_ipip6(pkt, proto=41), "rx_ipip6"),
}


def bad_inner_cases():
    good = udp_inner(b"x" * 16)
    good6 = udp_inner6(b"y" * 16)
    return [
        # (how, packet or GUE payload, counter)
        ("gue", patch(good, 10, b"\x00\x00"), "drop_inner_checksum"),
        ("gue", good[:-5], "drop_inner_truncated"),
        ("gue", good[:12], "drop_inner_truncated"),
        ("gue", patch(good, 0, b"\x4f") + b"\x00" * 8, "drop_inner_truncated"),
        ("gue", patch(good, 0, b"\x55"), "drop_inner_version"),
        ("gue", patch(good6, 0, b"\x70"), "drop_inner_version"),
        ("gue", patch(good, 0, b"\x44"), "drop_inner_ihl"),
        ("gue", patch(good, 2, b"\x00\x10"), "drop_inner_length"),
        ("gue", b"\x20\x00\x00\x00" + good, "drop_gue_control"),
        ("gue", b"\x20\x04\x00\x00" + good, "drop_gue_control"),
        ("gue", b"\x80\x04\x00\x00" + good, "drop_gue_header"),
        ("gue", b"\x00\x11\x00\x00" + good, "drop_gue_header"),
        ("gue", b"\x05\x04\x00\x00" + good[:8], "drop_gue_header"),
        ("gue", b"\x00\x04", "drop_gue_header"),
        ("gue", b"", "drop_gue_header"),
        ("gue", GUE_V0 + patch(good, 10, b"\xde\xad"), "drop_inner_checksum"),
        # The GUE protocol says which family: each refuses the other.
        ("gue", GUE_V0 + good6, "drop_inner_version"),
        ("gue", GUE_V0_6 + good, "drop_inner_version"),
        # IPv6 inner: the payload length against what came.
        ("gue", good6[:-1], "drop_inner6_truncated"),
        ("gue", good6[:39], "drop_inner6_truncated"),
        ("gue", GUE_V0_6 + patch(good6, 4, b"\x01\x00"), "drop_inner6_truncated"),
        ("gue6", good6[:-4], "drop_inner6_truncated"),
        ("gue6", patch(good, 10, b"\x00\x00"), "drop_inner_checksum"),
        ("gue6", b"\x20\x00\x00\x00" + good6, "drop_gue_control"),
        ("gue6", b"", "drop_gue_header"),
        ("ipip", patch(good, 10, b"\x00\x00"), "drop_inner_checksum"),
        ("ipip", good[:-1], "drop_inner_truncated"),
        ("ipip", patch(good, 0, b"\x65"), "drop_inner_version"),
        ("ipip", good6, "drop_inner_version"),
        ("ipip", patch(good, 0, b"\x43"), "drop_inner_ihl"),
        ("ipip41", good, "drop_inner_version"),
        ("ipip41", good6[:-2], "drop_inner6_truncated"),
        ("ipip6", good6, "drop_inner_version"),
        ("ipip6", good[:-3], "drop_inner_truncated"),
        ("ipip6-41", good, "drop_inner_version"),
        ("ipip6-41", good6[:20], "drop_inner6_truncated"),
    ]


def test_malformed_are_counted_and_program_keeps_running(net, decap,
                                                         ns_socket):
    d = decap()
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))
    listener6 = ns_socket(net.b, socket.AF_INET6, socket.SOCK_DGRAM)
    listener6.bind((VIP6, UDP_PORT))

    expected = {}
    for how, pkt, counter in bad_inner_cases():
        send, rx = SENDERS[how]
        send(net, pkt)
        expected[rx] = expected.get(rx, 0) + 1
        expected[counter] = expected.get(counter, 0) + 1

    # Each socket's queue is read in order, so once a good packet sent
    # last on each socket arrives, everything before it has been judged.
    afters = {"gue": udp_inner(b"after gue"), "gue6": udp_inner6(b"after gue6"),
              "ipip": udp_inner(b"after ipip"),
              "ipip41": udp_inner6(b"after ipip41"),
              "ipip6": udp_inner(b"after ipip6"),
              "ipip6-41": udp_inner6(b"after ipip6-41")}
    for how, pkt in afters.items():
        send, rx = SENDERS[how]
        send(net, pkt)
        expected[rx] += 1
    got = {received(listener) for _ in range(3)}
    got |= {received(listener6) for _ in range(3)}
    assert got == {f"after {how}".encode() for how in afters}
    assert d.running()

    expect_stats(d.stop(), tx_tun=6, tx_tun6=3, **expected)
    # The same counters go to stderr on exit.
    err = d.stderr()
    assert "drop_inner_checksum 4\n" in err
    assert f"drop_total {len(bad_inner_cases())}\n" in err


def test_vip_filter(net, decap, ns_socket):
    d = decap("-v", "203.0.113.99", "-v", VIP, "-v", "2001:db8:d1b:10::99",
              "-v", VIP6)
    # Bound to any address: they would see the packets to B were they
    # written.
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("0.0.0.0", UDP_PORT))
    listener6 = ns_socket(net.b, socket.AF_INET6, socket.SOCK_DGRAM)
    listener6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    listener6.bind(("::", UDP_PORT))

    net.send_gue(udp_inner(b"not a vip", dst=B_ADDR))
    net.send_ipip(udp_inner(b"not a vip either", dst=B_ADDR))
    net.send_gue6(udp_inner6(b"not a vip6", dst=B_ADDR6))
    net.send_ipip(udp_inner6(b"not a vip6 either", dst=B_ADDR6))
    # An IPv4 filter entry never matches an IPv6 packet: not one whose
    # first bytes are VIP's (cb00:710a:: is 203.0.113.10 then zeros).
    net.send_ipip6(udp_inner6(b"vip4 bytes", dst="cb00:710a::"))
    net.send_gue(udp_inner(b"vip"))
    net.send_ipip(udp_inner(b"vip again"))
    net.send_gue6(udp_inner6(b"vip6"))
    net.send_ipip6(udp_inner6(b"vip6 again"))

    got = {received(listener), received(listener)}
    assert got == {b"vip", b"vip again"}
    got6 = {received(listener6), received(listener6)}
    assert got6 == {b"vip6", b"vip6 again"}
    expect_stats(d.stop(), rx_gue=2, rx_ipip=3, rx_gue6=2, rx_ipip6=2,
                 tx_tun=4, tx_tun6=2, drop_not_vip=5)
    for sock in (listener, listener6):
        sock.settimeout(0)
        with pytest.raises(BlockingIOError):
            sock.recvfrom(65535)


# ------------------------------------------------- signals and switches


def test_sigusr1_reports_without_stopping(net, decap, ns_socket):
    d = decap()
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))
    net.send_gue(udp_inner(b"one"))
    assert received(listener) == b"one"

    d.send_signal(signal.SIGUSR1)

    def stats_written():
        try:
            return parse_stats(d.stats_path.read_text())
        except FileNotFoundError:
            return None
    stats = wait_for(stats_written, "stats file after SIGUSR1")
    expect_stats(stats, rx_gue=1, tx_tun=1)
    assert d.running()

    net.send_gue(udp_inner(b"two"))
    assert received(listener) == b"two"
    expect_stats(d.stop(signal.SIGINT), rx_gue=2, tx_tun=2)


def test_no_gue_leaves_port_free(net, decap, ns_socket):
    d = decap("-G", "-u")
    # The GUE port is free for anyone else to bind.
    other = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("0.0.0.0", GUE_PORT))
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))
    net.send_ipip(udp_inner(b"ipip only"))
    assert received(listener) == b"ipip only"
    expect_stats(d.stop(), rx_ipip=1, tx_tun=1)


def test_no_ipip_and_custom_gue_port(net, decap, ns_socket):
    d = decap("-I", "-g", "7080", "-b", B_ADDR)
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))
    # No raw socket, so this is never read: rx_ipip stays 0 below.
    net.send_ipip(udp_inner(b"ignored"))
    net.send_gue(udp_inner(b"custom port"), port=7080)
    assert received(listener) == b"custom port"
    expect_stats(d.stop(), rx_gue=1, tx_tun=1)


def test_ipv6_bind_address_leaves_ipv4_out(net, decap, ns_socket):
    d = decap("-b", B_ADDR6)
    # Only IPv6 is taken: the IPv4 GUE port stays free for anyone.
    other = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("0.0.0.0", GUE_PORT))
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))
    net.send_ipip(udp_inner(b"ignored"))
    net.send_gue6(udp_inner(b"over ipv6"))
    net.send_ipip6(udp_inner(b"over ipv6 too"))
    assert {received(listener), received(listener)} == {b"over ipv6", b"over ipv6 too"}
    expect_stats(d.stop(), rx_gue6=1, rx_ipip6=1, tx_tun=2)


def test_ipv4_only(net, decap, ns_socket):
    d = decap("-4")
    assert "ipv6 off" in d.stderr()
    # The IPv6 GUE port stays free for anyone.
    other = ns_socket(net.b, socket.AF_INET6, socket.SOCK_DGRAM)
    other.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    other.bind(("::", GUE_PORT))
    listener = ns_socket(net.b, socket.AF_INET6, socket.SOCK_DGRAM)
    listener.bind((VIP6, UDP_PORT))
    net.send_ipip6(udp_inner6(b"ignored"))
    net.send_gue(udp_inner6(b"six over four"))
    assert received(listener) == b"six over four"
    expect_stats(d.stop(), rx_gue=1, tx_tun=1, tx_tun6=1)
