#!/usr/bin/python3
"""Write the seed inputs of fuzz/corpus/packet and fuzz/corpus/api (the INI
loader's seeds are conf/*.ini and tests/control/configs/*.ini, which
scripts/fuzz adds). Run it again after changing a target's input format or
fixture; files it does not write (regressions found by fuzzing) stay.

Packet seeds are real frames built with scapy, addressed as fuzz_packet's
snapshot expects, behind its three header bytes (layout, plan, mbuf flags:
see fuzz_packet.c). API seeds are a method byte, a path, a newline, a body.
"""

from pathlib import Path

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, ICMPv6PacketTooBig, IPv6,
                       IPv6ExtHdrDestOpt, Raw, raw)

HERE = Path(__file__).resolve().parent
PORT_MAC = "02:00:00:00:00:01"
CLIENT_MAC = "02:00:00:00:00:99"
CLIENT = "192.0.2.7"


def eth():
    return Ether(dst=PORT_MAC, src=CLIENT_MAC)


def to(dst, **fields):
    return eth() / IP(src=CLIENT, dst=dst, **fields)


def quoting(l4):
    """An ICMP error from a router about a packet web or dns sent to CLIENT."""
    return IP(src="10.0.0.100", dst=CLIENT) / l4


def preamble_flow(i, dst, dport, flags="A", udp=False):
    """A packet of fuzz_packet's preamble flow i (192.168.0.i, from port
    20000 + i for TCP, 30000 + i for UDP)."""
    l4 = UDP(sport=30000 + i, dport=dport) if udp else TCP(sport=20000 + i, dport=dport,
                                                            flags=flags)
    return eth() / IP(src=f"192.168.0.{i}", dst=dst) / l4 / Raw(b"e" * 8)


def packet_seeds():
    router = IP(src="198.51.100.1", dst="10.0.0.100")
    frames = {
        "tcp-syn-web-maglev": to("10.0.0.100") / TCP(sport=40000, dport=80, flags="S"),
        "tcp-ack-web-payload": to("10.0.0.100") / TCP(sport=40000, dport=80, flags="PA")
        / Raw(b"GET / HTTP/1.1\r\n\r\n"),
        "udp-dns-round-robin": to("10.0.0.100") / UDP(sport=5353, dport=53)
        / Raw(b"\x12\x34" + b"\x00" * 10),
        "tcp-fin-api-least-connections": to("10.0.0.101")
        / TCP(sport=40001, dport=443, flags="FA"),
        "udp-sh-source-hash": to("10.0.0.101") / UDP(sport=5000, dport=53) / Raw(b"q" * 12),
        "tcp-wrr": to("10.0.0.102") / TCP(sport=40002, dport=8080, flags="S"),
        "udp-any-port": to("10.0.0.103") / UDP(sport=6000, dport=9999) / Raw(b"x" * 4),
        "tcp-dead-vip": to("10.0.0.104") / TCP(sport=40003, dport=80, flags="S"),
        "tcp-not-a-vip": to("10.0.0.200") / TCP(sport=40004, dport=80, flags="S"),
        "vlan-tcp-web": eth() / Dot1Q(vlan=7) / IP(src=CLIENT, dst="10.0.0.100")
        / TCP(sport=40005, dport=80, flags="S"),
        "arp-request-for-us": Ether(dst="ff:ff:ff:ff:ff:ff", src=CLIENT_MAC)
        / ARP(op=1, hwsrc=CLIENT_MAC, psrc="10.0.0.254", pdst="10.0.0.1"),
        "arp-reply-gateway": eth() / ARP(op=2, hwsrc="02:00:00:00:00:fe", psrc="10.0.0.254",
                                         hwdst=PORT_MAC, pdst="10.0.0.1"),
        "icmp-echo-vip": to("10.0.0.100") / ICMP(type=8, id=1, seq=1) / Raw(b"ping" * 4),
        "icmp-echo-us": to("10.0.0.1") / ICMP(type=8, id=2, seq=1),
        "icmp-frag-needed-web": eth() / router / ICMP(type=3, code=4, nexthopmtu=1400)
        / quoting(TCP(sport=80, dport=40000, flags="A")),
        "icmp-unreachable-dns-every-backend": eth() / router / ICMP(type=3, code=1)
        / quoting(UDP(sport=53, dport=5353)),
        "tcp-too-big-df": to("10.0.0.100", flags="DF") / TCP(sport=40006, dport=80, flags="PA")
        / Raw(b"b" * 700),
        "udp-too-big-no-df": to("10.0.0.100") / UDP(sport=5354, dport=53) / Raw(b"b" * 700),
        "tcp-syn-web-mss-options": to("10.0.0.100") / TCP(
            sport=40007, dport=80, flags="S",
            options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
                     ("WScale", 7)]),
        "tcp-syn-web-ip-options": to("10.0.0.100", options=[b"\x07\x07\x04" + b"\x00" * 5])
        / TCP(sport=40008, dport=80, flags="S", options=[("NOP", None), ("MSS", 1460)]),
        "icmp-frag-needed-quoting-options": eth() / router / ICMP(type=3, code=4, nexthopmtu=1400)
        / IP(src="10.0.0.100", dst=CLIENT, options=[b"\x01\x01\x01\x00"])
        / TCP(sport=80, dport=40000, flags="A"),
        # A datagram's first fragment (ports), and later ones (none).
        "udp-first-fragment-dns": to("10.0.0.100", flags="MF", id=77)
        / UDP(sport=5355, dport=53, len=1508) / Raw(b"f" * 16),
        "udp-later-fragment-dns": to("10.0.0.100", frag=3, id=77, proto=17) / Raw(b"g" * 16),
        "tcp-later-fragment-web": to("10.0.0.100", flags="MF", frag=100, proto=6)
        / Raw(b"h" * 24),
        # A router's packet too big about a reply from an IPv6 address to a
        # client: the quote's extension headers are walked.
        "icmp6-too-big-quoting-tcp": eth() / IPv6(src="2001:db8:ee::1", dst="fd00::100")
        / ICMPv6PacketTooBig(mtu=1280) / IPv6(src="fd00::100", dst="2001:db8:c::7")
        / IPv6ExtHdrDestOpt() / TCP(sport=80, dport=40000, flags="A") / Raw(b"r" * 32),
    }
    # Header bytes: layout (0: one mbuf, N: split after N), plan, mbuf flags.
    seeds = {name: bytes([0, 0, 0]) + raw(frame) for name, frame in frames.items()}
    # The same frames otherwise laid out and met (a chain split after or
    # inside the headers, a full table, a clock that moved, other
    # snapshots), and packets of flows the preamble began (fifteen of them,
    # plan bits 2-3 = 2): found, moved off a backend now down, or a closed
    # 5-tuple reused. (layout, plan, mbuf flags, frame)
    variants = {
        "chain-tcp-web-split-60": (60, 0x00, 0, frames["tcp-ack-web-payload"]),
        "chain-tcp-web-split-20": (20, 0x00, 0, frames["tcp-ack-web-payload"]),
        "chain-icmp-error-split-70": (70, 0x00, 0, frames["icmp-frag-needed-web"]),
        "full-table-udp-dns": (0, 0x0C, 0, frames["udp-dns-round-robin"]),
        "aged-table-tcp-api-twice": (0, 0x58, 0, frames["tcp-fin-api-least-connections"]),
        "unhealthy-udp-sh": (0, 0x05, 0, frames["udp-sh-source-hash"]),
        "no-next-hop-tcp-web": (0, 0x02, 0, frames["tcp-syn-web-maglev"]),
        "drained-tcp-wrr": (0, 0x0B, 0, frames["tcp-wrr"]),
        "no-headroom-nic-checked": (0, 0x00, 0x05, frames["udp-any-port"]),
        "established-web": (0, 0x08, 0, preamble_flow(0, "10.0.0.100", 80)),
        "established-web-closed-then-syn": (0, 0x08, 0, preamble_flow(6, "10.0.0.100", 80, "S")),
        "established-web-backend-down": (0, 0x0B, 0, preamble_flow(0, "10.0.0.100", 80)),
        "established-api-backend-down": (0, 0x0B, 0, preamble_flow(2, "10.0.0.101", 443)),
        "established-dns-unhealthy": (0, 0x09, 0, preamble_flow(1, "10.0.0.100", 53, udp=True)),
    }
    for name, (layout, plan, flags, frame) in variants.items():
        seeds[name] = bytes([layout, plan, flags]) + raw(frame)
    return seeds


def api_seeds():
    get, head, post, patch, delete, put = 0, 1, 2, 3, 4, 5
    requests = {
        "get-healthz": (get, "/healthz", ""),
        "get-stats": (get, "/stats", ""),
        "get-metrics": (get, "/metrics", ""),
        "head-vips": (head, "/vips", ""),
        "get-vip-web": (get, "/vips/web", ""),
        "get-backends-dns": (get, "/vips/dns/backends", ""),
        "get-backend": (get, "/vips/web/backends/10.0.1.2", ""),
        "get-lookup": (get | 0x08, "/vips/any/lookup", "\xc0\x00\x02\x07\x9c\x40\x00\x50"),
        "post-backend": (post, "/vips/web/backends", '{"address": "10.0.1.9", "weight": 2, '
                         '"state": "drain", "mac": "02:00:00:00:01:09"}'),
        "post-backend-bad": (post, "/vips/web/backends", '{"address": "10.0.1.9", "weight": -1}'),
        "patch-backend": (patch, "/vips/web/backends/10.0.1.1", '{"weight": 5, "mac": null}'),
        "patch-backend-state": (patch, "/vips/dns/backends/10.0.2.2", '{"state": "up"}'),
        "delete-backend": (delete, "/vips/dns/backends/10.0.2.1", ""),
        "post-reload": (post, "/reload", ""),
        "put-not-allowed": (put, "/vips/web", "{}"),
    }
    return {name: bytes([m]) + f"{url}\n{body}".encode("latin-1")
            for name, (m, url, body) in requests.items()}


def main():
    for folder, seeds in (("packet", packet_seeds()), ("api", api_seeds())):
        out = HERE / "corpus" / folder
        out.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
