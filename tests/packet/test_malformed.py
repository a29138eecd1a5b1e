"""Malformed and unwanted frames are dropped and counted by reason; dplb
keeps forwarding good packets around them and never crashes."""

import struct

from scapy.all import (IP, TCP, UDP, ICMP, GRE, Ether, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrHopByHop, Raw, raw)

from harness.dplb_harness import run_capture
from test_forwarding import BACKENDS, PORT_MAC, VIP, config, tcp_packet, udp_packet

ETH = Ether(dst=PORT_MAC, src="02:00:00:00:00:99")
# For frames assembled from raw bytes, where scapy cannot infer the type.
ETH_IPV4 = Ether(dst=PORT_MAC, src="02:00:00:00:00:99", type=0x0800)


def fix_checksum(ip_bytes):
    """Recompute the IPv4 header checksum of a hand-edited header."""
    header = bytearray(ip_bytes)
    ihl = (header[0] & 0x0F) * 4
    ihl = max(20, min(ihl, len(header)))
    header[10:12] = b"\0\0"
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, ihl, 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    header[10:12] = struct.pack("!H", ~total & 0xFFFF)
    return bytes(header)


def edited(packet, offset, value):
    """Overwrite bytes of the IP header at offset and fix its checksum."""
    ip = bytearray(raw(packet[IP]))
    ip[offset:offset + len(value)] = value
    return Ether(raw(ETH_IPV4) + fix_checksum(ip))


GOOD = tcp_packet(1)
GOOD_IP = raw(GOOD[IP])

MALFORMED = {
    "truncated": [
        Raw(raw(ETH)[:10]),                                  # not even Ethernet
        Raw(raw(ETH / IP(dst=VIP))[:14 + 12]),           # IPv4 header cut short
    ],
    "not_ip": [
        Ether(dst=PORT_MAC, type=0x8137) / Raw(b"\x00" * 40),  # IPX
        Ether(dst=PORT_MAC, type=0x88CC) / Raw(b"\x00" * 40),  # LLDP
    ],
    "bad_version": [
        Ether(raw(ETH_IPV4) + bytes([0x65]) + GOOD_IP[1:]),
        # An IPv4 header behind IPv6's ether type.
        Ether(raw(Ether(dst=PORT_MAC, type=0x86DD)) + GOOD_IP),
    ],
    "bad_ihl": [
        edited(GOOD, 0, bytes([0x44])),                      # below 20 bytes
        edited(GOOD, 0, bytes([0x4F])),                      # 60 bytes, beyond the packet
    ],
    "bad_length": [
        edited(GOOD, 2, struct.pack("!H", len(GOOD_IP) + 40)),  # longer than the frame
        edited(GOOD, 2, struct.pack("!H", 19)),                  # shorter than a header
    ],
    "bad_checksum": [
        Ether(raw(ETH_IPV4) + GOOD_IP[:10] + b"\xde\xad" + GOOD_IP[12:]),
        # The options are summed too: one changed after the checksum was made.
        Ether(raw(ETH / IP(dst=VIP, options=[b"\x01\x01\x01\x00"]) / TCP(dport=80))
              .replace(b"\x01\x01\x01\x00", b"\x01\x01\x01\x01")),
    ],
    # TCP and UDP fragments are forwarded (test_fragments.py), ICMP ones not.
    "fragment": [
        ETH / IP(dst=VIP, flags="MF", proto=1) / Raw(b"\x08" * 16),
        ETH / IP(dst=VIP, frag=100, proto=1) / Raw(b"x" * 16),
    ],
    # Not the last fragment, yet 20 bytes: not a multiple of 8.
    "bad_fragment": [ETH / IP(dst=VIP, flags="MF") / TCP(dport=80)],
    "bad_l4": [
        ETH / IP(dst=VIP, proto=6) / Raw(b"\x00" * 10),                  # TCP header cut
        ETH / IP(dst=VIP) / TCP(dport=80, dataofs=4),                    # offset too small
        ETH / IP(dst=VIP) / TCP(dport=80, dataofs=15),                   # beyond the packet
        ETH / IP(dst=VIP, proto=17) / Raw(b"\x00" * 4),                  # UDP header cut
        ETH / IP(dst=VIP) / UDP(dport=80, len=200) / Raw(b"x" * 8),      # UDP longer than IP
        ETH / IP(dst=VIP) / UDP(dport=80, len=4),                        # UDP shorter than 8
    ],
    "unsupported_protocol": [ETH / IP(dst=VIP) / GRE() / Raw(b"x" * 20)],
    "icmp_unhandled": [
        ETH / IP(dst=VIP) / ICMP(type=3, code=4),                      # not an echo
        ETH / IP(dst="10.9.9.9") / ICMP(),                             # not ours
        Ether(raw(ETH / IP(dst=VIP) / ICMP(chksum=0x1234))),           # bad checksum
    ],
    "bad_arp": [Ether(dst="ff:ff:ff:ff:ff:ff", type=0x0806) / Raw(b"\x00\x01" * 4)],
    # IPv6 extension headers are walked, and chains dplb cannot walk refused
    # by reason.
    "ipv6_truncated_extensions": [  # options claiming 40 bytes, 8 there
        ETH / IPv6(dst="2001:db8::1", nh=60) / Raw(b"\x11\x04" + b"\x00" * 6)],
    "ipv6_bad_extensions": [  # hop-by-hop options second
        ETH / IPv6(dst="2001:db8::1") / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop()
        / UDP(dport=80)],
    "ipv6_too_many_extensions": [
        ETH / IPv6(dst="2001:db8::1") / (IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
                                         / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
                                         / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
                                         / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
                                         / IPv6ExtHdrDestOpt()) / UDP(dport=80)],
}


def test_every_malformed_kind_is_dropped_counted_and_survived(tmp_path):
    packets = []
    expected = {}
    good = 0
    for reason, frames in MALFORMED.items():
        expected[reason] = len(frames)
        for frame in frames:
            packets.append(frame)
            # A good packet after each bad one: the next packet still works.
            packets.append(tcp_packet(1000 + good))
            good += 1
    out, stats, drops, summary = run_capture(tmp_path, config(), packets)
    for reason, count in expected.items():
        assert drops[reason] == count, (reason, drops)
    assert stats["drops"] == sum(expected.values())
    assert len(out) == good
    assert all(o[IP].dst in BACKENDS and o[IP].proto == 4 for o in out)
    # The exit summary names each reason too.
    for reason in expected:
        assert reason in summary


def test_ethernet_padding_is_not_carried_to_the_backend(tmp_path):
    # 60-byte minimum frames carry padding after a short IP packet.
    small = Ether(raw(udp_packet(1, payload=b"")) + b"\x00" * 12)
    out, stats, _, _ = run_capture(tmp_path, config(protocol="udp", port=0), [small])
    assert len(out) == 1
    assert len(raw(out[0][IP])) == 20 + 28
