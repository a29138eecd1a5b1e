"""End-to-end tests for dplb-decap against the real kernel.

A sends IP-in-IP and GUE packets to B, as dplb would; dplb-decap in B writes
the inner packets to its TUN device; sockets in B bound to the VIP must
receive them, and a TCP SYN must be answered straight back to A (direct
server return). Malformed inner packets must be dropped and counted by
reason while the program keeps running.

Run as root:  DPLB_DECAP=build/app/dplb-decap python3 -m pytest tests/decap
"""

import os
import signal
import socket
import subprocess
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

from conftest import (A_ADDR, B_ADDR, GUE_PORT, TIMEOUT, VIP, netns_socket,
                      parse_stats, run, wait_for)

UDP_PORT = 5353
TCP_PORT = 8080

COUNTER_KEYS = [
    "rx_ipip", "rx_gue", "tx_tun",
    "drop_outer_header", "drop_gue_header", "drop_gue_control",
    "drop_inner_truncated", "drop_inner_version", "drop_inner_ihl",
    "drop_inner_length", "drop_inner_checksum", "drop_not_vip",
    "drop_tun_write", "drop_total",
]

GUE_V0 = b"\x00\x04\x00\x00"          # ver 0, C 0, hlen 0, proto 4 (IPIP)


def udp_inner(payload, dst=VIP, dport=UDP_PORT, sport=40000):
    return bytes(IP(src=A_ADDR, dst=dst, id=7) /
                 UDP(sport=sport, dport=dport) / Raw(payload))


def patch(pkt, offset, value):
    return pkt[:offset] + bytes(value) + pkt[offset + len(value):]


# Each way of carrying an inner packet that dplb-decap must accept.
ENCAPS = {
    "ipip": lambda net, inner: net.send_ipip(inner),
    # Outer header with options (IHL 6): stripping must follow the IHL.
    "ipip-options": lambda net, inner: net.send_ipip(
        inner, ip_options=b"\x01\x01\x01\x00"),
    "gue-v1": lambda net, inner: net.send_gue(inner),
    "gue-v0": lambda net, inner: net.send_gue(GUE_V0 + inner),
    # Variant 0 with two extension words (hlen 2) to skip.
    "gue-v0-ext": lambda net, inner: net.send_gue(
        b"\x02\x04\x00\x00" + b"\xaa" * 8 + inner),
}


def expect_stats(stats, **expected):
    """Every counter the program reports must match; unnamed ones are 0."""
    assert sorted(stats) == sorted(COUNTER_KEYS)
    want = {key: 0 for key in COUNTER_KEYS}
    want.update(expected)
    want["drop_total"] = sum(v for k, v in want.items()
                             if k.startswith("drop_") and k != "drop_total")
    assert stats == want


def recv_payload(sock):
    data, addr = sock.recvfrom(65535)
    return data, addr


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
    ["-G", "-I"], ["-v", "203.0.113.300"], ["-b", "nope"],
    ["-i", "x" * 16], ["-i", ""], ["extra"], ["-z"],
])
def test_bad_arguments_exit_two(decap_binary, args):
    res = subprocess.run([str(decap_binary)] + args, capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert res.returncode == 2, res.stderr
    assert res.stderr


# ------------------------------------------------------------- delivery


@pytest.mark.parametrize("encap", sorted(ENCAPS))
def test_udp_reaches_vip_listener(net, decap, ns_socket, encap):
    d = decap()
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))

    payload = f"hello via {encap}".encode()
    ENCAPS[encap](net, udp_inner(payload, sport=40001))

    data, addr = recv_payload(listener)
    assert data == payload
    assert addr == (A_ADDR, 40001)      # the client's address, untouched
    rx = "rx_ipip" if encap.startswith("ipip") else "rx_gue"
    expect_stats(d.stop(), **{rx: 1, "tx_tun": 1})


def test_padding_after_total_length_is_trimmed(net, decap, ns_socket):
    d = decap()
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))

    net.send_gue(udp_inner(b"padded") + b"\x00" * 6)
    net.send_ipip(udp_inner(b"padded too") + b"\xff" * 3)

    got = {recv_payload(listener)[0], recv_payload(listener)[0]}
    assert got == {b"padded", b"padded too"}
    expect_stats(d.stop(), rx_gue=1, rx_ipip=1, tx_tun=2)


@pytest.mark.parametrize("encap", ["ipip", "gue-v1"])
def test_tcp_syn_answered_directly_to_client(net, decap, ns_socket, encap):
    """The kernel in B, not dplb-decap, answers: the SYN-ACK comes from the
    VIP and goes straight to A over the veth, never back through a tunnel."""
    d = decap()
    server = ns_socket(net.b, socket.AF_INET, socket.SOCK_STREAM)
    server.bind((VIP, TCP_PORT))
    server.listen(8)
    # A raw TCP socket in A sees every TCP segment A receives, before A's
    # kernel answers the unexpected SYN-ACK with a RST.
    sniffer = ns_socket(net.a, socket.AF_INET, socket.SOCK_RAW,
                        socket.IPPROTO_TCP)

    sport, seq = 42000 + len(encap), 0x1234567
    syn = bytes(IP(src=A_ADDR, dst=VIP) /
                TCP(sport=sport, dport=TCP_PORT, flags="S", seq=seq,
                    window=64240, options=[("MSS", 1400)]))
    ENCAPS[encap](net, syn)

    deadline = time.monotonic() + TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail("no SYN-ACK reached A")
        sniffer.settimeout(remaining)
        reply = IP(sniffer.recv(65535))
        if TCP in reply and reply[TCP].dport == sport:
            break

    assert reply.src == VIP and reply.dst == A_ADDR
    assert reply.proto == socket.IPPROTO_TCP    # plain TCP, not tunnelled
    assert reply[TCP].sport == TCP_PORT
    assert reply[TCP].flags == "SA"
    assert reply[TCP].ack == seq + 1
    rx = "rx_ipip" if encap == "ipip" else "rx_gue"
    expect_stats(d.stop(), **{rx: 1, "tx_tun": 1})


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
        assert recv_payload(listener)[0] == b"persistent"
        expect_stats(d.stop(), rx_gue=1, tx_tun=1)
        run("ip", "-n", net.b, "link", "show", "dev", tun)
    finally:
        run("ip", "-n", net.b, "tuntap", "del", "dev", tun, "mode", "tun",
            check=False)


# ---------------------------------------------------------------- drops


def bad_inner_cases():
    good = udp_inner(b"x" * 16)
    ipv6 = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") /
                 UDP(sport=1, dport=2) / Raw(b"v6"))
    return [
        # (how, packet or GUE payload, counter)
        ("gue", patch(good, 10, b"\x00\x00"), "drop_inner_checksum"),
        ("gue", good[:-5], "drop_inner_truncated"),
        ("gue", good[:12], "drop_inner_truncated"),
        ("gue", patch(good, 0, b"\x4f") + b"\x00" * 8, "drop_inner_truncated"),
        ("gue", patch(good, 0, b"\x55"), "drop_inner_version"),
        ("gue", ipv6, "drop_inner_version"),
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
        ("ipip", patch(good, 10, b"\x00\x00"), "drop_inner_checksum"),
        ("ipip", good[:-1], "drop_inner_truncated"),
        ("ipip", patch(good, 0, b"\x65"), "drop_inner_version"),
        ("ipip", patch(good, 0, b"\x43"), "drop_inner_ihl"),
    ]


def test_malformed_are_counted_and_program_keeps_running(net, decap,
                                                         ns_socket):
    d = decap()
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))

    expected = {"rx_gue": 0, "rx_ipip": 0}
    for how, pkt, counter in bad_inner_cases():
        if how == "gue":
            net.send_gue(pkt)
        else:
            net.send_ipip(pkt)
        expected["rx_" + how] += 1
        expected[counter] = expected.get(counter, 0) + 1

    # Each socket's queue is read in order, so once a good packet sent
    # last on each path arrives, everything before it has been judged.
    net.send_gue(udp_inner(b"after gue"))
    net.send_ipip(udp_inner(b"after ipip"))
    got = {recv_payload(listener)[0], recv_payload(listener)[0]}
    assert got == {b"after gue", b"after ipip"}
    assert d.running()
    expected["rx_gue"] += 1
    expected["rx_ipip"] += 1

    expect_stats(d.stop(), tx_tun=2, **expected)
    # The same counters go to stderr on exit.
    err = d.stderr()
    assert "drop_inner_checksum 3\n" in err
    assert f"drop_total {len(bad_inner_cases())}\n" in err


def test_vip_filter(net, decap, ns_socket):
    d = decap("-v", "203.0.113.99", "-v", VIP)
    # Bound to any address: it would see the B_ADDR packet were it written.
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("0.0.0.0", UDP_PORT))

    net.send_gue(udp_inner(b"not a vip", dst=B_ADDR))
    net.send_ipip(udp_inner(b"not a vip either", dst=B_ADDR))
    net.send_gue(udp_inner(b"vip"))
    net.send_ipip(udp_inner(b"vip again"))

    got = {recv_payload(listener)[0], recv_payload(listener)[0]}
    assert got == {b"vip", b"vip again"}
    expect_stats(d.stop(), rx_gue=2, rx_ipip=2, tx_tun=2, drop_not_vip=2)
    listener.settimeout(0)
    with pytest.raises(BlockingIOError):
        listener.recvfrom(65535)


# ------------------------------------------------- signals and switches


def test_sigusr1_reports_without_stopping(net, decap, ns_socket):
    d = decap()
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))
    net.send_gue(udp_inner(b"one"))
    assert recv_payload(listener)[0] == b"one"

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
    assert recv_payload(listener)[0] == b"two"
    expect_stats(d.stop(signal.SIGINT), rx_gue=2, tx_tun=2)


def test_no_gue_leaves_port_free(net, decap, ns_socket):
    d = decap("-G", "-u")
    # The GUE port is free for anyone else to bind.
    other = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("0.0.0.0", GUE_PORT))
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))
    net.send_ipip(udp_inner(b"ipip only"))
    assert recv_payload(listener)[0] == b"ipip only"
    expect_stats(d.stop(), rx_ipip=1, tx_tun=1)


def test_no_ipip_and_custom_gue_port(net, decap, ns_socket):
    d = decap("-I", "-g", "7080", "-b", B_ADDR)
    listener = ns_socket(net.b, socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((VIP, UDP_PORT))
    # Ignored: no raw socket. Then the GUE datagram on the chosen port,
    # which arrives after it, proves the IP-in-IP one was not taken.
    net.send_ipip(udp_inner(b"ignored"))
    net.send_gue(udp_inner(b"custom port"), port=7080)
    assert recv_payload(listener)[0] == b"custom port"
    expect_stats(d.stop(), rx_gue=1, tx_tun=1)
