"""End-to-end: the kernel's exception path ([dataplane] exception_path = tap).

dplb runs in the testbed's lb namespace on net_af_packet, as in test_e2e.py,
with a testbed of its own (namespaces dplb-x<pid>-*). The lb namespace's
management leg (mgmt0) is taken down first, so that, as on bare metal, the
kernel there has no way onto the segment but the tap dplb makes (eth0 is
dplb's: the testbed keeps its kernel from taking IP packets off it).

What is proven here, with exception_path = tap:
- dplb makes the tap (dplb0) with the port's MAC and its own address, and
  removes it when it stops;
- a TCP server bound to dplb's address in dplb's namespace serves a client
  in the client namespace, both ways through dplb: the client's segments
  through the workers' ring to the kernel, the kernel's out of the port;
- the kernel resolved the client by ARP through dplb, and pings from it
  are answered (the replies are ICMP for dplb's address); pings to dplb's
  address are still answered by dplb itself;
- ARP requests for dplb's address are answered once, by dplb, with the
  port's MAC: the kernel is never asked;
- the counters say so, and nothing was dropped on the way;
- a reload that changes dplb's address moves the tap's; one that turns the
  exception path off is refused (it needs a restart);
- health checks, HTTP and SYN, work through the tap alone;
- an interface that has the tap's name already keeps dplb from starting;
- with vlan = 100, a tagged SYN reaches the kernel (untagged: it has no VLAN
  interface), and its ARP request and SYN-ACK leave the port tagged;
- with address6, the same over IPv6: the tap carries address6, a TCP
  server bound to it serves the client, the kernel resolves the client by
  neighbor discovery through dplb, and its pings are answered; and a BGP
  session over IPv6 (BIRD on each side) carries the IPv6 VIP's /128 to the
  peer, its segments on the priority ring.
And with exception_path = none (the default): the same connection fails,
its SYNs dropped and counted (not_for_vip), and there is no tap.

Everything waits by polling with generous deadlines; the one connection
expected to fail is given a timeout, which failing to connect cannot beat.

Run as root:  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_exception_path.py
"""

import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from harness.e2e_testbed import (CLIENT_ADDR, CLIENT_ADDR6, CLIENT_MAC, ETH_P_ALL, ETH_P_ARP,
                                 LB_ADDR, LB_ADDR6, LB_MAC, PACKET_OUTGOING, PREFIX_LENGTH6,
                                 BACKENDS, BACKENDS6, VIP6,
                                 LiveDplb, Sniffer, config_text, dplb_running, in_netns,
                                 mac_bytes, parse_frame, running_testbed, wait_for, WAIT_SECONDS)

SERVER_PORT = 2222
TAP = "dplb0"  # exception_interface's default


def make_config(exception_path):
    text = config_text([("web", "198.18.1.80", 80, "tcp", "ipip", {BACKENDS["b1"]: 1})],
                       static_macs=True)
    return text.replace("[dataplane]\n", f"[dataplane]\nexception_path = {exception_path}\n", 1)


@pytest.fixture(scope="module")
def testbed():
    with running_testbed(f"dplb-x{os.getpid()}-",
                         tools=("ip", "ethtool", "ping", "bird", "birdc")) as tb:
        # The kernel's only leg on the segment is to be dplb's tap.
        tb.exec("lb", "ip", "link", "set", "mgmt0", "down")
        yield tb


def interface(testbed, name):
    """`ip -j address show NAME` in the lb namespace, or None."""
    res = testbed.exec("lb", "ip", "-j", "address", "show", "dev", name, check=False)
    if res.returncode != 0:
        return None
    found = json.loads(res.stdout)
    return found[0] if found else None


def has_our_address(testbed):
    tap = interface(testbed, TAP)
    addresses = [] if tap is None else tap.get("addr_info", [])
    return tap if any(a.get("local") == LB_ADDR and a.get("prefixlen") == 24
                      for a in addresses) else None


class EchoServer:
    """A TCP server in the lb namespace, bound to dplb's address (or
    address, an IPv6 one too): it answers each line with "echo " and the
    line."""

    def __init__(self, testbed, address=LB_ADDR):
        def listen():
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, SERVER_PORT))
            sock.listen(8)
            sock.settimeout(0.2)
            return sock
        self.sock = in_netns(testbed.ns("lb"), listen)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(WAIT_SECONDS)
                data = b""
                try:
                    while not data.endswith(b"\n"):
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    conn.sendall(b"echo " + data)
                except OSError:
                    continue

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=WAIT_SECONDS)
        self.sock.close()


def ask_server(testbed, line, timeout, address=LB_ADDR):
    """From the client namespace: connect to dplb's address (or address),
    send line, return the answer."""
    def exchange():
        with socket.create_connection((address, SERVER_PORT), timeout=timeout) as sock:
            sock.sendall(line)
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            return answer
    return in_netns(testbed.ns("client"), exchange)


def arp_for_our_address():
    """In the client namespace: ask who has dplb's address until a reply
    comes; return it."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind(("eth0", ETH_P_ARP))
        sock.settimeout(2)
        client_mac, client_ip = mac_bytes(CLIENT_MAC), socket.inet_aton(CLIENT_ADDR)
        request = (b"\xff" * 6 + client_mac + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01" +
                   client_mac + client_ip + b"\x00" * 6 + socket.inet_aton(LB_ADDR))
        for _attempt in range(int(WAIT_SECONDS / 2)):  # a lost request is sent again
            sock.send(request)
            try:
                while True:
                    frame = sock.recv(2048)
                    info = parse_frame(frame)
                    if info["kind"] == "arp" and info["op"] == 2 and info["sender"] == LB_ADDR:
                        return frame
            except socket.timeout:
                continue
        raise AssertionError("no ARP reply for dplb's address")


def test_tcp_and_ping_to_dplbs_address_reach_the_kernel_through_the_tap(testbed, tmp_path):
    with dplb_running(testbed, tmp_path, make_config("tap")) as lb:
        tap = wait_for(lambda: has_our_address(testbed), f"{TAP} to have {LB_ADDR}/24")
        assert tap["address"] == LB_MAC and "UP" in tap["flags"], tap
        sniffer = Sniffer(testbed)
        # Nothing is sent yet: the sniffer sees every ARP reply counted from here.
        arp_replies = lb.stats()["arp_replies"]
        server = EchoServer(testbed)
        try:
            # The kernel's connection: its SYN-ACK needs the client's MAC, which
            # it asks for through dplb; the answer comes back the same way.
            assert ask_server(testbed, b"hello\n", WAIT_SECONDS) == b"echo hello\n"
            neigh = testbed.exec("lb", "ip", "neigh", "show", CLIENT_ADDR, "dev", TAP).stdout
            assert CLIENT_MAC in neigh, neigh
            # The kernel's pings: their replies are ICMP for dplb's address.
            res = testbed.exec("lb", "ping", "-n", "-c", "3", "-i", "0.2", "-w", "60",
                               CLIENT_ADDR, check=False)
            assert res.returncode == 0 and " 3 received" in res.stdout, res.stdout + res.stderr
            # Pings to dplb's address: dplb answers them itself, as ever.
            echo_replies = lb.stats()["icmp_echo_replies"]
            res = testbed.exec("client", "ping", "-n", "-c", "3", "-i", "0.2", "-w", "60",
                               LB_ADDR, check=False)
            assert res.returncode == 0 and " 3 received" in res.stdout, res.stdout + res.stderr
            assert lb.stats()["icmp_echo_replies"] >= echo_replies + 3
            # ARP for dplb's address, answered by dplb with the port's MAC.
            frame = in_netns(testbed.ns("client"), arp_for_our_address)
            assert frame[22:28] == mac_bytes(LB_MAC)
            # A round trip of the kernel's after it: had the kernel been asked
            # too, its answer would have left before this connection's SYN-ACK
            # (the management lcore reads ARP before the kernel's ring).
            assert ask_server(testbed, b"again\n", WAIT_SECONDS) == b"echo again\n"
        finally:
            server.stop()
            frames = sniffer.stop()
        stats = lb.stats()
        drops = lb.drops()

    ours = [info for info in map(parse_frame, frames)
            if info["kind"] == "arp" and info["op"] == 2 and info["sender"] == LB_ADDR]
    assert len(ours) == stats["arp_replies"] - arp_replies, ours
    assert all(info["src_mac"] == mac_bytes(LB_MAC) for info in ours), ours
    # Two connections (SYN, data, FIN, ACKs) and three echo replies.
    assert stats["exception_to_kernel"] >= 2 * 4 + 3, stats
    assert stats["exception_to_tap"] >= stats["exception_to_kernel"], stats
    assert stats["exception_from_kernel"] >= 2 * 3 + 3 + 1, stats  # with an ARP request
    assert stats["exception_tap_refused"] == 0 and stats["exception_from_kernel_dropped"] == 0
    assert drops["exception_busy"] == 0 and drops["not_for_vip"] == 0, drops
    # Gone with dplb.
    assert interface(testbed, TAP) is None


def test_the_taps_ipv6_is_on_for_vip_routes_but_silent(testbed, tmp_path):
    """IPv6 VIPs are announced by routes through the tap, which the kernel
    refuses through an interface whose IPv6 is off: dplb leaves it on, with
    no address of its own, so the kernel sends nothing IPv6 through it."""
    sniffer = Sniffer(testbed)
    try:
        with dplb_running(testbed, tmp_path, make_config("tap")):
            wait_for(lambda: has_our_address(testbed), f"{TAP} to have {LB_ADDR}/24")
            for key, value in (("disable_ipv6", "0"), ("addr_gen_mode", "1")):
                res = testbed.exec("lb", "sysctl", "-n", f"net.ipv6.conf.{TAP}.{key}")
                assert res.stdout.strip() == value, (key, res.stdout)
            res = testbed.exec("lb", "ip", "-j", "-6", "address", "show", "dev", TAP)
            assert all("local" not in a for i in json.loads(res.stdout)
                       for a in i.get("addr_info", [])), res.stdout
            # What dplb_rtnetlink_change_route6 asks for, as ip(8) asks it.
            route = ["fd00:db1b:1::80/128", "dev", TAP, "proto", "static", "table", "100"]
            testbed.exec("lb", "ip", "-6", "route", "add", *route)
            testbed.exec("lb", "ip", "-6", "route", "del", *route)
            # Some IPv4 of the kernel's through the tap, to give IPv6 a
            # chance to slip out beside it.
            res = testbed.exec("lb", "ping", "-n", "-c", "2", "-i", "0.2", "-w", "60",
                               CLIENT_ADDR, check=False)
            assert res.returncode == 0, res.stdout + res.stderr
    finally:
        frames = sniffer.stop()
    ipv6 = [f for f in frames if f[12:14] == b"\x86\xdd"]
    assert not ipv6, f"{len(ipv6)} IPv6 frames left dplb's port"


def with_address6(config):
    return config.replace("[dataplane]\n", f"[dataplane]\naddress6 = {LB_ADDR6}\n"
                          f"prefix_length6 = {PREFIX_LENGTH6}\n", 1)


def addresses6(testbed):
    tap = interface(testbed, TAP)
    return sorted(f"{a['local']}/{a['prefixlen']}" for a in tap.get("addr_info", [])
                  if a.get("family") == "inet6")


def test_ipv6_to_dplbs_address6_reaches_the_kernel_through_the_tap(testbed, tmp_path):
    """With address6, the tap carries it too: a TCP server bound to it in
    dplb's namespace serves the client over IPv6 both ways through dplb,
    the kernel resolves the client by neighbor discovery through dplb (its
    solicitation out of the port, the advertisement back by way of the
    management lcore), and the kernel's pings are answered; pings to
    address6 are still dplb's to answer. A reload without address6 takes it
    off the tap."""
    config = with_address6(make_config("tap"))
    with dplb_running(testbed, tmp_path, config) as lb:
        wait_for(lambda: addresses6(testbed) == [f"{LB_ADDR6}/{PREFIX_LENGTH6}"],
                 f"{TAP} to have {LB_ADDR6}/{PREFIX_LENGTH6}")
        testbed.exec("lb", "ip", "-6", "neigh", "flush", "dev", TAP)
        server = EchoServer(testbed, LB_ADDR6)
        try:
            assert ask_server(testbed, b"hello\n", WAIT_SECONDS, LB_ADDR6) == b"echo hello\n"
            neigh = testbed.exec("lb", "ip", "-6", "neigh", "show", CLIENT_ADDR6, "dev",
                                 TAP).stdout
            assert CLIENT_MAC in neigh, neigh
            res = testbed.exec("lb", "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-w", "60",
                               CLIENT_ADDR6, check=False)
            assert res.returncode == 0 and " 3 received" in res.stdout, res.stdout + res.stderr
            echo_replies = lb.stats()["icmp6_echo_replies"]
            res = testbed.exec("client", "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-w", "60",
                               LB_ADDR6, check=False)
            assert res.returncode == 0 and " 3 received" in res.stdout, res.stdout + res.stderr
            assert lb.stats()["icmp6_echo_replies"] >= echo_replies + 3
        finally:
            server.stop()
        stats = lb.stats()
        drops = lb.drops()
        # One connection (SYN, data, FIN, ACKs) and three echo replies;
        # the client's advertisement reached the kernel too (its
        # neighbour entry above), outside these.
        assert stats["exception_to_kernel"] >= 4 + 3, stats
        assert stats["exception_to_tap"] > stats["exception_to_kernel"], stats
        assert stats["exception_tap_refused"] == 0, stats
        assert drops["exception_busy"] == 0 and drops["not_for_vip"] == 0, drops
        lb.reload(make_config("tap"))
        wait_for(lambda: addresses6(testbed) == [], f"{LB_ADDR6} to leave {TAP}")
        assert has_our_address(testbed)


ANNOUNCE_TABLE = 100

# BIRD beside dplb, as conf/bird/bird.conf has it for IPv6: the VIPs' /128s
# dplb puts in its table, over a BGP session from address6 to a peer.
BIRD_LB = f"""
router id {LB_ADDR};
ipv6 table dplb_vips6;
protocol device {{ scan time 1; }}
protocol kernel dplb_routes6 {{
	kernel table {ANNOUNCE_TABLE};
	learn;
	scan time 1;
	ipv6 {{ table dplb_vips6; import filter {{ if krt_source = 4 then accept; reject; }};
		export none; }};
}}
protocol bgp peer6 {{
	local {LB_ADDR6} as 65010;
	neighbor {CLIENT_ADDR6} as 65000;
	hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 2;
	ipv6 {{ table dplb_vips6; import none; export all; next hop self; }};
}}
"""
# The peer, a router's part, in the client's namespace.
BIRD_PEER = f"""
router id {CLIENT_ADDR};
protocol device {{ scan time 1; }}
protocol bgp lb6 {{
	local {CLIENT_ADDR6} as 65000;
	neighbor {LB_ADDR6} as 65010;
	hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 2;
	ipv6 {{ import all; export none; }};
}}
"""


class Bird:
    """BIRD in the foreground in one of the testbed's namespaces."""

    def __init__(self, testbed, node, conf, workdir):
        self.testbed = testbed
        path = workdir / f"bird-{node}.conf"
        path.write_text(conf)
        self.ctl = str(workdir / f"bird-{node}.ctl")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", testbed.ns(node), "bird", "-f", "-c", str(path), "-s",
             self.ctl], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def ask(self, *command):
        res = subprocess.run(["birdc", "-s", self.ctl, *command], capture_output=True,
                             text=True, check=False)
        return res.stdout

    def stop(self):
        self.proc.terminate()
        return self.proc.communicate(timeout=WAIT_SECONDS)[0].decode(errors="replace")


def test_a_bgp_session_over_ipv6_through_the_tap_announces_the_ipv6_vip(testbed, tmp_path):
    """BGP over IPv6 end to end: BIRD beside dplb peers from address6 with a
    BIRD in the client's namespace, through the tap and dplb's port alone,
    and the peer learns the IPv6 VIP's /128 with address6 as its next hop.
    The peer's BGP segments take the priority ring: dplb learned the peer
    from the kernel's own segments to it."""
    text = config_text([("six", VIP6, 80, "tcp", "ipip", {BACKENDS6["b1"]: 1})],
                       static_macs=True)
    text = with_address6(text.replace(
        "[dataplane]\n", f"[dataplane]\nexception_path = tap\n"
        f"announce_table = {ANNOUNCE_TABLE}\n", 1))
    with dplb_running(testbed, tmp_path, text) as lb:
        wait_for(lambda: addresses6(testbed) == [f"{LB_ADDR6}/{PREFIX_LENGTH6}"],
                 f"{TAP} to have {LB_ADDR6}")
        peer = Bird(testbed, "client", BIRD_PEER, tmp_path)
        ours = Bird(testbed, "lb", BIRD_LB, tmp_path)
        try:
            route = f"{VIP6}/128"
            found = wait_for(lambda: (out := peer.ask("show", "route", "all")) and
                             route in out and out, f"the peer to learn {route}")
            assert f"via {LB_ADDR6}" in found or f"BGP.next_hop: {LB_ADDR6}" in found, found
            assert "Established" in peer.ask("show", "protocols", "lb6")
            stats = lb.stats()
            assert stats["exception_control_peers"] == 1, stats
            assert stats["exception_control_to_kernel"] > 0, stats
        finally:
            logs = ours.stop() + peer.stop()
        assert lb.drops()["exception_busy"] == 0, logs


def test_an_address_the_tap_refuses_is_asked_for_again(testbed, tmp_path):
    """A tap that refuses an address (here its IPv6 is switched off behind
    dplb's back) gets it once it can take it: dplb asks again every
    second, and says so once, not at every try."""
    other6 = "fd00:db1b::20"
    with dplb_running(testbed, tmp_path, with_address6(make_config("tap"))) as lb:
        wait_for(lambda: addresses6(testbed) == [f"{LB_ADDR6}/{PREFIX_LENGTH6}"],
                 f"{TAP} to have {LB_ADDR6}")
        testbed.exec("lb", "sysctl", "-qw", f"net.ipv6.conf.{TAP}.disable_ipv6=1")
        lb.reload(with_address6(make_config("tap")).replace(LB_ADDR6, other6))
        wait_for(lambda: "asking again every second" in lb.output()[1],
                 "dplb to say the tap refused the address")
        time.sleep(2.5)  # two more tries, which must not be logged again
        testbed.exec("lb", "sysctl", "-qw", f"net.ipv6.conf.{TAP}.disable_ipv6=0")
        wait_for(lambda: addresses6(testbed) == [f"{other6}/{PREFIX_LENGTH6}"],
                 f"{TAP} to have {other6}")
        assert has_our_address(testbed)
        assert lb.output()[1].count("asking again every second") == 1, lb.output()[1]


def addresses(testbed):
    tap = interface(testbed, TAP)
    return sorted(f"{a['local']}/{a['prefixlen']}" for a in tap.get("addr_info", [])
                  if a.get("family") == "inet")


def test_the_tap_follows_a_reloaded_address_and_the_path_itself_needs_a_restart(testbed,
                                                                             tmp_path):
    new_address = "198.18.0.20"
    with dplb_running(testbed, tmp_path, make_config("tap")) as lb:
        wait_for(lambda: has_our_address(testbed), f"{TAP} to have {LB_ADDR}/24")
        moved = make_config("tap").replace(f"address = {LB_ADDR}\n",
                                           f"address = {new_address}\n", 1)
        lb.reload(moved.replace("prefix_length = 24", "prefix_length = 25", 1))
        wait_for(lambda: addresses(testbed) == [f"{new_address}/25"],
                 f"{TAP} to have {new_address}/25 only")
        # The prefix alone: the kernel keys an address by both, so the old
        # one must go, not stay beside the new.
        lb.reload(moved.replace("prefix_length = 24", "prefix_length = 26", 1))
        wait_for(lambda: addresses(testbed) == [f"{new_address}/26"],
                 f"{TAP} to have {new_address}/26 only")
        # Turning the path off is a restart's job: the reload is refused whole.
        before = lb.stats()
        lb.config_path.write_text(make_config("none"))
        lb.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: lb.stats()["reloads_failed"] > before["reloads_failed"],
                 "the reload to be refused")
        assert "exception_path" in lb.output()[1]
        assert addresses(testbed) == [f"{new_address}/26"]


def test_health_checks_go_through_the_tap(testbed, tmp_path):
    """With no management leg, health checks (HTTP, and tcp as a SYN from a
    raw socket) leave from the kernel's address on the tap and their
    answers come back through dplb."""
    text = config_text([("web", "198.18.1.80", 80, "tcp", "ipip",
                         {BACKENDS["b1"]: 1, BACKENDS["b2"]: 1}),
                        ("syn", "198.18.1.81", 80, "tcp", "ipip", {BACKENDS["b3"]: 1})],
                       static_macs=True)
    text = text.replace("[dataplane]\n", "[dataplane]\nexception_path = tap\n", 1)
    text = text.replace("health_check = none", "health_check = http:/health\n"
                        "health_interval_ms = 200", 1)
    text = text.replace("health_check = none", "health_check = tcp\nhealth_interval_ms = 200", 1)
    with dplb_running(testbed, tmp_path, text) as lb:
        for vip, count in (("web", 2), ("syn", 1)):
            wait_for(lambda: lb.telemetry(f"/dplb/backends,{vip}")["health"] ==
                     ["healthy"] * count, f"{vip}'s backends to be healthy")
        stats = lb.stats()
        assert stats["exception_to_kernel"] > 0 and stats["exception_from_kernel"] > 0, stats


def test_an_interface_of_the_taps_name_stops_dplb_from_starting(testbed, tmp_path):
    """Another dplb's tap, say: dplb refuses to start rather than share it."""
    testbed.exec("lb", "ip", "tuntap", "add", "dev", TAP, "mode", "tap")
    lb = LiveDplb(testbed, tmp_path)
    try:
        with pytest.raises(AssertionError, match="an interface named dplb0 exists already"):
            lb.start(make_config("tap"))
    finally:
        code, _, err = lb.stop()
        testbed.exec("lb", "ip", "link", "del", TAP)
    assert code == 1, err


def test_without_an_exception_path_tcp_to_dplbs_address_is_dropped(testbed, tmp_path):
    def refused():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Listening on every address of the namespace: dplb's is none of them.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", SERVER_PORT))
            sock.listen(1)
            with pytest.raises(OSError):
                ask_server(testbed, b"hello\n", 3)

    with dplb_running(testbed, tmp_path, make_config("none")) as lb:
        before = lb.drops()["not_for_vip"]
        in_netns(testbed.ns("lb"), refused)
        wait_for(lambda: lb.drops()["not_for_vip"] > before, "the SYNs to be dropped")
        assert lb.stats()["exception_to_kernel"] == 0
        assert interface(testbed, TAP) is None


# struct tpacket_auxdata (linux/if_packet.h): the kernel hands a packet
# socket a frame's 802.1Q tag beside its bytes, never in them.
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
VLAN = 100


def tagged_handshake_from_the_client():
    """In the client namespace, whose kernel has no VLAN interface (nor can
    it: no 8021q module here): a raw socket sends a SYN tagged VLAN to
    dplb's server, answers the lb kernel's ARP request for the client (it
    must come tagged) and returns the VLAN id of the first SYN-ACK."""
    from scapy.all import ARP, TCP, Dot1Q, Ether, IP, raw

    syn = raw(Ether(dst=LB_MAC, src=CLIENT_MAC) / Dot1Q(vlan=VLAN) /
              IP(src=CLIENT_ADDR, dst=LB_ADDR) / TCP(sport=40404, dport=SERVER_PORT, flags="S",
                                                      seq=1000))
    arp_reply = raw(Ether(dst=LB_MAC, src=CLIENT_MAC) / Dot1Q(vlan=VLAN) /
                    ARP(op=2, hwsrc=CLIENT_MAC, psrc=CLIENT_ADDR, hwdst=LB_MAC, pdst=LB_ADDR))
    arp_requests_vlans = []
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind(("eth0", ETH_P_ALL))
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        sock.settimeout(0.5)
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            sock.send(syn)  # again each round: the first may meet no ARP entry yet
            round_end = time.monotonic() + 1
            while time.monotonic() < round_end:
                try:
                    data, ancillary, _flags, address = sock.recvmsg(65535,
                                                                     socket.CMSG_SPACE(20))
                except socket.timeout:
                    continue
                if address[2] == PACKET_OUTGOING:
                    continue
                vlan = None
                for level, kind, value in ancillary:
                    if level == SOL_PACKET and kind == PACKET_AUXDATA:
                        status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", value[:20])
                        vlan = tci & 0xfff if status & TP_STATUS_VLAN_VALID else None
                frame = Ether(data)
                if (ARP in frame and frame[ARP].op == 1 and frame[ARP].pdst == CLIENT_ADDR and
                        frame[ARP].psrc == LB_ADDR):
                    arp_requests_vlans.append(vlan)
                    sock.send(arp_reply)
                elif (TCP in frame and frame[IP].src == LB_ADDR and
                      frame[TCP].sport == SERVER_PORT and frame[TCP].flags == "SA"):
                    return vlan, arp_requests_vlans
    raise AssertionError(f"no SYN-ACK from dplb's kernel (ARP requests: {arp_requests_vlans})")


def test_with_a_vlan_the_kernels_frames_leave_tagged_and_arrive_untagged(testbed, tmp_path):
    """vlan = 100: a tagged SYN reaches the kernel behind the tap (which
    drops tagged frames, having no VLAN interface), and the kernel's ARP
    request and SYN-ACK leave dplb's port tagged."""
    config = make_config("tap").replace("[dataplane]\n", f"[dataplane]\nvlan = {VLAN}\n", 1)
    with dplb_running(testbed, tmp_path, config) as lb:
        wait_for(lambda: has_our_address(testbed), f"{TAP} to have {LB_ADDR}/24")
        server = EchoServer(testbed)
        try:
            syn_ack_vlan, arp_vlans = in_netns(testbed.ns("client"),
                                               tagged_handshake_from_the_client)
        finally:
            server.stop()
        stats = lb.stats()
    assert syn_ack_vlan == VLAN, syn_ack_vlan
    assert arp_vlans and all(v == VLAN for v in arp_vlans), arp_vlans
    assert stats["exception_from_kernel_dropped"] == 0, stats
