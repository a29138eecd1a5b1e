"""Shared by the HTTP API tests: a configuration with four kinds of VIP,
packet builders, traffic through a FIFO in whole bursts, and readers of
what came out.

VIPs:
  web         10.0.0.100:80/tcp   maglev (M 65537), IP-in-IP, weights 1/2/1
  dns-udp     10.0.0.101:53/udp   round-robin, GUE
  sticky.src  10.0.0.102:443/tcp  source-hash (M 251)
  solo        10.0.0.103:8443/tcp maglev, a single backend
Names with '-' and '.' check that every front end copes with them.
"""

import ipaddress
import json
import subprocess
from pathlib import Path

from scapy.all import IP, TCP, UDP, Ether, Raw, raw

from .dplb_harness import BURST, Dplb, WAIT_SECONDS, rdpcap, wait_for  # noqa: F401

PORT_MAC = "02:70:63:61:70:00"  # net_pcap0's MAC
GATEWAY_MAC = "02:00:00:00:00:01"
LOCAL = "10.0.0.10"
WEB, DNS, STICKY, SOLO = "10.0.0.100", "10.0.0.101", "10.0.0.102", "10.0.0.103"
WEB_BACKENDS = {"10.0.1.1": 1, "10.0.1.2": 2, "10.0.1.3": 1}
DNS_BACKENDS = ["10.0.2.1", "10.0.2.2"]
STICKY_BACKENDS = {"10.0.3.1": 1, "10.0.3.2": 3}
SOLO_BACKEND = "10.0.4.1"
NOWHERE = "10.9.9.9"  # no VIP: dropped as not_for_vip


def config(web_backends=None, management=""):
    web_backends = WEB_BACKENDS if web_backends is None else web_backends
    web = "\n".join(f"backend = {a} weight={w}" for a, w in web_backends.items())
    return f"""
[dataplane]
ports = 0
address = {LOCAL}
gateway_mac = {GATEWAY_MAC}
flow_table_size = 65536

[management]
{management}

[vip:web]
address = {WEB}
port = 80
protocol = tcp
encap = ipip
scheduler = maglev
{web}

[vip:dns-udp]
address = {DNS}
port = 53
protocol = udp
encap = gue
scheduler = round-robin
backend = {DNS_BACKENDS[0]}
backend = {DNS_BACKENDS[1]}

[vip:sticky.src]
address = {STICKY}
port = 443
protocol = tcp
scheduler = source-hash
maglev_size = 251
backend = 10.0.3.1 weight=1
backend = 10.0.3.2 weight=3

[vip:solo]
address = {SOLO}
port = 8443
backend = {SOLO_BACKEND}
"""


def client(i):
    return str(ipaddress.IPv4Address("172.16.0.1") + i)


def tcp(i, dst=WEB, dport=80, flags="S", payload=b""):
    return (Ether(dst=PORT_MAC, src="02:00:00:00:00:99") /
            IP(src=client(i % 60000), dst=dst) /
            TCP(sport=1024 + (i % 50000), dport=dport, flags=flags) / Raw(payload))


def udp(i, dst=DNS, dport=53, payload=b"query"):
    return (Ether(dst=PORT_MAC, src="02:00:00:00:00:99") /
            IP(src=client(i % 60000), dst=dst) /
            UDP(sport=1024 + (i % 50000), dport=dport) / Raw(payload))


def filler(count=BURST):
    """Packets for no VIP: each is one not_for_vip drop."""
    return [Ether(dst=PORT_MAC, src="02:00:00:00:00:99") / IP(dst=NOWHERE) / TCP(dport=9)
            ] * count


def padded(packets):
    """packets plus not_for_vip filler up to a whole burst: the pcap PMD
    blocks on a FIFO until a burst is full. Returns (packets, filler count)."""
    extra = (-len(packets)) % BURST
    return packets + filler(extra), extra


class Traffic:
    """Counts what a test sent, so the API's numbers can be checked."""

    def __init__(self, dplb):
        self.dplb = dplb
        self.sent = 0
        self.filler = 0

    def send(self, packets):
        packets, extra = padded(list(packets))
        self.dplb.write(packets)
        self.sent += len(packets)
        self.filler += extra
        return self.dplb.wait_received(self.sent)


def dplb_at(tmp_path, text=None, **kwargs):
    """A dplb (not started: use "with") reading a FIFO, on config() or text."""
    return Dplb(tmp_path, config() if text is None else text, fifo=True, **kwargs)


def inner(out):
    """The client's packet inside an encapsulated one."""
    outer = raw(out[IP])
    if out[IP].proto == 4:
        return IP(outer[20:])
    return IP(outer[28:])  # GUE: outer IPv4 + UDP


def flow_of(packet):
    l4 = packet[TCP] if TCP in packet else packet[UDP]
    return packet.src, packet.dst, l4.sport, l4.dport


def backends_by_flow(outputs):
    """{(src, dst, sport, dport): backend} of encapsulated output packets."""
    return {flow_of(inner(o)): o[IP].dst for o in outputs if IP in o and o[IP].proto in (4, 17)}


def ok(dplb, method, path, body=None, headers=None, status=200):
    code, answer_headers, answer = dplb.http(method, path, body, headers)
    assert code == status, (method, path, code, answer)
    return answer


def state_of(dplb):
    """Everything a change could alter, for "nothing changed" checks:
    configuration and live state of every VIP and backend (counters left
    out: they move with traffic, not with changes) and the generation."""
    vips = ok(dplb, "GET", "/vips")
    counters = {"packets_in", "bytes_in", "packets_out", "bytes_out", "new_flows",
                "active_flows"}
    for vip in vips["vips"]:
        for key in counters | {"acl_denied", "rate_limited"}:
            vip.pop(key)
        for backend in vip["backends"]:
            for key in counters:
                backend.pop(key)
    return json.dumps(vips, sort_keys=True)


def promtool_check(text):
    """promtool check metrics on text; returns (returncode, output)."""
    result = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                            capture_output=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


def parse_metrics(text):
    """{(name, frozenset of label pairs): value} of a Prometheus exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        if "{" in series:
            name, labels = series[:-1].split("{", 1)
            pairs = frozenset(tuple(p.split("=", 1)) for p in labels.split(","))
            pairs = frozenset((k, v.strip('"')) for k, v in pairs)
        else:
            name, pairs = series, frozenset()
        samples[(name, pairs)] = float(value)
    return samples


def metric(samples, name, **labels):
    return samples[(name, frozenset((k, str(v)) for k, v in labels.items()))]


def telemetry_script(prefix, command):
    """What dpdk-telemetry.py (the operator's tool) prints for command."""
    script = Path("/usr/bin/dpdk-telemetry.py")
    result = subprocess.run(["/usr/bin/python3", str(script), "-f", prefix], input=command + "\n",
                            text=True, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])[command.split(",")[0]]
