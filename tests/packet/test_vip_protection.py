"""Protection for VIPs through the real dplb, pcap in and pcap out: sources
a VIP's allow and deny lists refuse are dropped and counted on every packet
(an established flow too, once a reload denies its source; an IPv6 VIP's
lists are of IPv6 prefixes), and new flows
beyond new_flow_rate are dropped, or with rate_limit_action = stateless
forwarded to the backend Maglev gives them, without a flow entry."""

import re
import subprocess

from scapy.all import ICMP, IP, TCP, Ether, IPv6, raw

from harness.dplb_harness import DPLB, Dplb, run_capture
from harness.frames import PORT_MAC, VIP, client, config, five_tuple, tcp_packet, udp_packet
from test_ipv6_forwarding import client6, config6, tcp6, udp6, unwrap

FLOWS = 64  # a whole burst of the PMD (BURST)

# The clients of tcp_packet(i) are 172.16.0.1 + i: 172.16.0.0/28 holds
# flows 0..14, and 172.16.0.8/30 flows 7..10 of them.
LISTS = "allow = 172.16.0.0/28 192.0.2.0/24\ndeny = 172.16.0.8/30"
ALLOWED = [i for i in range(15) if not 7 <= i <= 10]


def inner(out):
    return IP(raw(out[IP])[20:])


def vip_counters(summary, vip="web"):
    """The VIP's counters from the exit summary's "vip NAME: ..." line."""
    # Wrapped lines go on four columns in; the VIP's backends' lines too,
    # but they start with "backend".
    line = re.search(rf"^  vip {re.escape(vip)}: (.*(?:\n {{4}}(?!backend )\S.*)*)", summary,
                     re.M)
    assert line, summary
    return {name: int(value) for name, value in re.findall(r"(\w+) (\d+)", line.group(1))}


def test_denied_sources_are_dropped_and_counted_allowed_ones_pass(tmp_path):
    packets = [tcp_packet(i) for i in range(FLOWS)]
    out, stats, drops, summary = run_capture(tmp_path, config(extra_vip=LISTS), packets)
    sources = sorted(inner(o).src for o in out)
    assert sources == sorted(client(i) for i in ALLOWED)
    denied = FLOWS - len(ALLOWED)
    assert drops["acl_denied"] == denied
    assert stats["drops"] == denied
    counters = vip_counters(summary)
    # Received for the VIP, then refused: in packets_in, never in new_flows.
    assert counters["packets_in"] == FLOWS
    assert counters["acl_denied"] == denied
    assert counters["new_flows"] == counters["packets_out"] == len(ALLOWED)
    assert counters["rate_limited"] == 0


def test_a_deny_list_alone_refuses_only_its_sources(tmp_path):
    packets = [udp_packet(i) for i in range(FLOWS)]
    out, _, drops, _ = run_capture(
        tmp_path, config(protocol="udp", port=53, extra_vip="deny = 172.16.0.32/27"), packets)
    # 172.16.0.32/27: the clients of flows 31..62.
    allowed = list(range(31)) + [63]
    assert sorted(inner(o).src for o in out) == sorted(client(i) for i in allowed)
    assert drops["acl_denied"] == FLOWS - len(allowed)


def test_a_reload_that_adds_a_deny_stops_established_flows(tmp_path):
    before = config()
    after = config(extra_vip="deny = 172.16.0.0/27")  # flows 0..30
    first = [tcp_packet(i) for i in range(FLOWS)]
    second = [tcp_packet(i, flags="A") for i in range(FLOWS)]
    with Dplb(tmp_path, before, fifo=True) as dplb:
        dplb.write(first)
        dplb.wait_received(FLOWS)
        assert dplb.reload(after)["reloads_ok"] == 1
        dplb.write(second)
        dplb.wait_received(2 * FLOWS)
        drops = dplb.drops()
    out = dplb.output()
    assert len(out) == FLOWS + FLOWS - 31
    backend_of = {five_tuple(inner(o)): o[IP].dst for o in out[:FLOWS]}
    for o in out[FLOWS:]:
        flow = five_tuple(inner(o))
        assert flow[0] not in {client(i) for i in range(31)}, "a denied flow went on"
        assert o[IP].dst == backend_of[flow], "an allowed flow moved"
    assert drops["acl_denied"] == 31


RATE = "new_flow_rate = 1\nnew_flow_burst = 10"


def test_new_flows_beyond_the_rate_are_dropped_and_established_ones_never(tmp_path):
    # The capture is read in a few milliseconds: a burst of 10 flows gets
    # in, then one a second (one more, should a second pass meanwhile).
    packets = [tcp_packet(i) for i in range(96)] + [tcp_packet(i, flags="A") for i in range(96)]
    out, stats, drops, summary = run_capture(tmp_path, config(extra_vip=RATE), packets)
    admitted = {five_tuple(inner(o)) for o in out[:len(out) // 2]}
    assert 10 <= len(admitted) <= 11, len(admitted)
    # Every packet of an admitted flow went on, established ones included.
    assert len(out) == 2 * len(admitted)
    assert {five_tuple(inner(o)) for o in out} == admitted
    assert stats["new_flows"] == len(admitted)
    assert drops["rate_limited"] == 192 - len(out)
    assert stats["rate_limited_stateless"] == 0
    counters = vip_counters(summary)
    assert counters["rate_limited"] == drops["rate_limited"]
    assert counters["new_flows"] == len(admitted)


def test_stateless_forwards_by_maglev_without_flow_entries(tmp_path):
    packets = [udp_packet(i) for i in range(96)]
    udp = dict(protocol="udp", port=53)
    (tmp_path / "reference").mkdir()
    (tmp_path / "limited").mkdir()
    reference, _, _, _ = run_capture(tmp_path / "reference", config(**udp), packets)
    out, stats, drops, summary = run_capture(
        tmp_path / "limited",
        config(**udp, extra_vip=RATE + "\nrate_limit_action = stateless"), packets)
    # Every packet reaches the backend Maglev gives its flow, as it does
    # with no limit: the limit spares the flow table, not the backends.
    maglev = {five_tuple(inner(o)): o[IP].dst for o in reference}
    assert len(maglev) == 96
    assert {five_tuple(inner(o)): o[IP].dst for o in out} == maglev
    assert stats["drops"] == 0 and drops["rate_limited"] == 0
    assert 10 <= stats["new_flows"] <= 11
    assert stats["flows_active"] == stats["new_flows"]
    assert stats["rate_limited_stateless"] == 96 - stats["new_flows"]
    assert vip_counters(summary)["rate_limited"] == 96 - stats["new_flows"]


def test_stateless_is_refused_for_a_round_robin_vip(tmp_path):
    text = config(scheduler="round-robin", extra_vip=RATE + "\nrate_limit_action = stateless")
    path = tmp_path / "dplb.ini"
    path.write_text(text)
    result = subprocess.run([str(DPLB), "--check-config", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "rate_limit_action = stateless needs scheduler maglev or source-hash, not " \
           "round-robin" in result.stdout + result.stderr


def test_icmp_errors_are_checked_by_their_flows_client_and_pings_are_answered(tmp_path):
    def error_about(i, router="192.0.2.1"):
        # From a router, not in any list: the quoted flow's client decides.
        quoted = IP(src=VIP, dst=client(i), flags="DF") / TCP(sport=80, dport=1024 + i)
        return Ether(raw(Ether(dst=PORT_MAC, src="02:00:00:00:00:98") /
                         IP(src=router, dst=VIP) /
                         ICMP(type=3, code=4, nexthopmtu=1400) / raw(quoted)[:28]))

    ping = Ether(dst=PORT_MAC, src="02:00:00:00:00:98") / IP(src="203.0.113.9", dst=VIP) / ICMP()
    errors = [error_about(i) for i in (0, 1, 7, 8)]  # flows 7 and 8 are denied
    out, stats, drops, _ = run_capture(tmp_path, config(extra_vip=LISTS), errors + [ping])
    forwarded = [o for o in out if o[IP].proto == 4]
    assert len(forwarded) == stats["icmp_errors_forwarded"] == 2
    assert drops["acl_denied"] == 2
    # dplb answers pings itself: nothing reaches a backend, no list applies.
    assert stats["icmp_echo_replies"] == 1


# An IPv6 VIP's lists: client6(i) is 2001:db8:c::1 + i. 2001:db8:c::/123
# holds flows 0..30; denied inside it are ::10/126 (flows 15..18) and
# ::1/128 (flow 0, its longest prefix an allow's would be shorter: deny
# wins at any length); every flow past 30 is outside the allow list.
LISTS6 = "allow = 2001:db8:c::/123 fd00::/8\ndeny = 2001:db8:c::10/126 2001:db8:c::1"
ALLOWED6 = [i for i in range(1, 31) if not 15 <= i <= 18]


def test_an_ipv6_vip_forwards_allowed_sources_and_drops_denied_ones(tmp_path):
    first = [tcp6(i) for i in range(FLOWS)]
    established = [tcp6(i, flags="A") for i in range(FLOWS)]
    out, stats, drops, summary = run_capture(tmp_path, config6(extra_vip=LISTS6),
                                             first + established)
    sources = sorted(IPv6(unwrap(o, "ipip")[2]).src for o in out)
    assert sources == sorted(client6(i) for i in ALLOWED6 + ALLOWED6)
    denied = 2 * (FLOWS - len(ALLOWED6))
    assert drops["acl_denied"] == denied
    assert stats["drops"] == denied
    counters = vip_counters(summary)
    assert counters["packets_in"] == 2 * FLOWS
    assert counters["acl_denied"] == denied
    assert counters["new_flows"] == len(ALLOWED6)
    assert counters["packets_out"] == 2 * len(ALLOWED6)


def test_an_ipv6_deny_list_alone_refuses_only_its_sources(tmp_path):
    packets = [udp6(i) for i in range(FLOWS)]
    # ::20/123: the clients of flows 31..62.
    out, _, drops, summary = run_capture(
        tmp_path, config6(protocol="udp", port=53, extra_vip="deny = 2001:db8:c::20/123"),
        packets)
    allowed = list(range(31)) + [63]
    assert sorted(IPv6(unwrap(o, "ipip")[2]).src for o in out) == \
        sorted(client6(i) for i in allowed)
    assert drops["acl_denied"] == FLOWS - len(allowed)
    assert vip_counters(summary)["acl_denied"] == FLOWS - len(allowed)


def test_a_prefix_of_the_other_family_is_refused_with_its_line(tmp_path):
    path = tmp_path / "dplb.ini"
    path.write_text(config6(extra_vip="deny = 10.0.0.0/8"))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                if text.startswith("deny"))
    result = subprocess.run([str(DPLB), "--check-config", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert f'{path}:{line}: deny in [vip:web]: "10.0.0.0/8" is an IPv4 prefix, and ' \
           "[vip:web] is an IPv6 VIP" in result.stdout + result.stderr
