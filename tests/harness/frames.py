"""The single-VIP set-up the pcap-level tests share: dplb's addresses, one
VIP with three weighted backends, its configuration, and client frames
numbered so that frame i is flow i."""

import ipaddress

from scapy.all import IP, TCP, UDP, Ether, Raw

GATEWAY_MAC = "02:00:00:00:00:01"
PORT_MAC = "02:70:63:61:70:00"  # net_pcap0's MAC
LOCAL = "10.0.0.10"
VIP = "10.0.0.100"
BACKENDS = {"10.0.1.1": 1, "10.0.1.2": 2, "10.0.1.3": 1}


def config(backends=None, encap="ipip", protocol="tcp", port=80, extra_vip="", extra="",
           scheduler="maglev", vip=VIP):
    backends = BACKENDS if backends is None else backends
    lines = "\n".join(
        f"backend = {addr} weight={w}" if isinstance(w, int) else f"backend = {addr} {w}"
        for addr, w in backends.items())
    return f"""
[dataplane]
ports = 0
address = {LOCAL}
gateway_mac = {GATEWAY_MAC}
flow_table_size = 65536
{extra}

[vip:web]
address = {vip}
port = {port}
protocol = {protocol}
encap = {encap}
scheduler = {scheduler}
{extra_vip}
{lines}
"""


def client(i):
    return str(ipaddress.IPv4Address("172.16.0.1") + i)


def tcp_packet(i, dport=80, flags="S", payload=b"", **ip):
    return (Ether(dst=PORT_MAC, src="02:00:00:00:00:99") /
            IP(src=client(i % 60000), dst=VIP, **ip) /
            TCP(sport=1024 + (i % 50000), dport=dport, flags=flags) / Raw(payload))


def udp_packet(i, dport=53, payload=b"query", **ip):
    return (Ether(dst=PORT_MAC, src="02:00:00:00:00:99") /
            IP(src=client(i % 60000), dst=VIP, **ip) /
            UDP(sport=1024 + (i % 50000), dport=dport) / Raw(payload))


def five_tuple(inner):
    l4 = inner[TCP] if TCP in inner else inner[UDP]
    return inner.src, inner.dst, l4.sport, l4.dport, inner.proto
