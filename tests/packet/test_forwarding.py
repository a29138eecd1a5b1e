"""Packet-level tests of dplb's data path: pcap in, pcap out, every output
packet checked header by header against what was sent."""

import collections
import random

import pytest
from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, raw

from harness.dplb_harness import Dplb, PcapWriter, run_capture
from harness.frames import (BACKENDS, GATEWAY_MAC, LOCAL, PORT_MAC, VIP, config, five_tuple,
                            tcp_packet, udp_packet)

def ipv4_checksum_ok(header_bytes):
    total = sum(int.from_bytes(header_bytes[i:i + 2], "big") for i in range(0, 20, 2))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return total == 0xffff


def check_encapsulated(out, sent_by_tuple, backends, encap="ipip", gue_port=6080):
    """Check one output packet completely; return (five-tuple, backend)."""
    assert out[Ether].dst == GATEWAY_MAC
    assert out[Ether].src == PORT_MAC
    outer = out[IP]
    outer_bytes = raw(outer)
    assert outer.version == 4 and outer.ihl == 5
    assert ipv4_checksum_ok(outer_bytes[:20]), "outer IPv4 checksum"
    assert outer.src == LOCAL
    assert outer.dst in backends
    assert outer.ttl == 64
    assert outer.len == len(outer_bytes)
    if encap == "ipip":
        assert outer.proto == 4
        inner_bytes = outer_bytes[20:]
    else:
        assert outer.proto == 17
        udp = outer[UDP]
        assert udp.dport == gue_port
        assert 49152 <= udp.sport <= 65535
        assert udp.len == len(outer_bytes) - 20
        assert udp.chksum == 0
        inner_bytes = outer_bytes[28:]
    inner = IP(inner_bytes)
    key = five_tuple(inner)
    sent = sent_by_tuple[key]
    # The client's packet is carried unchanged, byte for byte.
    assert inner_bytes == raw(sent[IP])
    # DF, DSCP and ECN are copied to the outer header.
    assert (outer.flags & 0x2) == (inner.flags & 0x2)
    assert outer.tos == inner.tos
    return key, outer.dst


def flows_and_icmp_errors(out):
    """dplb's output of TCP flows and ICMP errors about them, apart: the
    backend of each flow by (client, client port), and the errors in order."""
    backend_of = {}
    errors = []
    for o in out:
        inner = IP(raw(o[IP])[20:])
        if inner.proto == 6:
            backend_of[(inner.src, inner[TCP].sport)] = o[IP].dst
        else:
            errors.append(o)
    return backend_of, errors


def spread(assignments):
    return collections.Counter(assignments.values())


@pytest.mark.parametrize("encap", ["ipip", "gue"])
def test_every_vip_packet_leaves_encapsulated_to_a_backend(tmp_path, encap):
    # Varied payload sizes, DSCP/ECN bits and DF, to see them carried over.
    packets = []
    for i in range(2000):
        p = tcp_packet(i, payload=b"x" * (i % 7), tos=(i % 4) * 4)
        p[IP].flags = "DF" if i % 2 else 0
        packets.append(Ether(raw(p)))
    by_tuple = {five_tuple(p[IP]): p for p in packets}
    out, stats, drops, _ = run_capture(tmp_path, config(encap=encap), packets)
    assert len(out) == len(packets)
    assert stats["drops"] == 0
    assert stats["new_flows"] == len(packets)
    for o in out:
        check_encapsulated(o, by_tuple, BACKENDS, encap=encap)


def test_one_five_tuple_one_backend_and_weights_respected(tmp_path):
    flows = 6000
    rng = random.Random(7)
    # Three packets per flow, interleaved.
    order = [i for i in range(flows) for _ in range(3)]
    rng.shuffle(order)
    packets = [tcp_packet(i, flags="A") for i in order]
    by_tuple = {five_tuple(p[IP]): p for p in packets}
    out, stats, _, _ = run_capture(tmp_path, config(), packets)
    assert len(out) == len(packets)
    assert stats["new_flows"] == flows
    assigned = {}
    for o in out:
        key, backend = check_encapsulated(o, by_tuple, BACKENDS)
        assert assigned.setdefault(key, backend) == backend, f"flow {key} moved"
    counts = spread(assigned)
    total_weight = sum(BACKENDS.values())
    for backend, weight in BACKENDS.items():
        share = counts[backend] / flows
        assert abs(share - weight / total_weight) < 0.03, (backend, counts)


def test_udp_vip_on_every_port_with_gue(tmp_path):
    packets = [udp_packet(i, dport=1000 + i % 300) for i in range(1000)]
    by_tuple = {five_tuple(p[IP]): p for p in packets}
    out, stats, _, _ = run_capture(
        tmp_path, config(protocol="udp", port=0, encap="gue"), packets)
    assert len(out) == len(packets)
    for o in out:
        check_encapsulated(o, by_tuple, BACKENDS, encap="gue")


def test_vlan_tag_is_kept(tmp_path):
    packets = []
    for i in range(64):
        p = tcp_packet(i)
        packets.append(Ether(dst=PORT_MAC, src=p.src) / Dot1Q(vlan=42) / p[IP])
    out, stats, _, _ = run_capture(tmp_path, config(), packets)
    assert len(out) == 64
    for o in out:
        assert o[Dot1Q].vlan == 42
        assert o[Dot1Q][IP].dst in BACKENDS and o[Dot1Q][IP].proto == 4


def test_traffic_not_for_a_vip_is_counted_not_sent(tmp_path):
    eth = Ether(dst=PORT_MAC, src="02:00:00:00:00:99")
    packets = [
        eth / IP(src="1.2.3.4", dst="10.0.0.99") / TCP(dport=80),   # other address
        eth / IP(src="1.2.3.4", dst=VIP) / TCP(dport=81),           # other port
        eth / IP(src="1.2.3.4", dst=VIP) / UDP(dport=80),           # other protocol
        # A VIP packet flooded by a switch to every port: not ours to forward.
        Ether(bytes.fromhex("020000000077") + raw(tcp_packet(1))[6:]),
    ]
    out, stats, drops, _ = run_capture(tmp_path, config(), packets)
    assert out == []
    assert drops["not_for_vip"] == 3
    assert drops["not_our_mac"] == 1
    assert stats["drops"] == 4


def test_only_arp_is_taken_from_broadcast_and_multicast_frames(tmp_path):
    # A frame to a group reaches every dplb on the segment: were VIP traffic
    # taken from it, each would forward the same packet. ARP may come so.
    client = "02:00:00:00:00:99"
    groups = ["ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:64", "33:33:00:00:00:01"]
    sent = [Ether(dst=mac, src=client) / IP(src="172.16.5.5", dst=VIP) /
            TCP(sport=4000 + i, dport=80, flags="S") for i, mac in enumerate(groups)]
    sent += [Ether(dst="ff:ff:ff:ff:ff:ff", src=client) / IP(src="172.16.5.5", dst=VIP) /
             UDP(dport=80),
             Ether(dst="ff:ff:ff:ff:ff:ff", src=client) / IP(src="172.16.5.5", dst=VIP) /
             ICMP()]
    good = [tcp_packet(i) for i in range(len(sent))]
    arp = (Ether(dst="ff:ff:ff:ff:ff:ff", src=client) /
           ARP(op=1, hwsrc=client, psrc="10.0.0.77", pdst=LOCAL))
    packets = [p for pair in zip(sent, good) for p in pair] + [arp]
    out, stats, drops, _ = run_capture(tmp_path, config(), packets)
    forwarded = [o for o in out if IP in o]
    assert stats["icmp_echo_replies"] == 0
    assert len(forwarded) == len(good)
    assert {IP(raw(o[IP])[20:]).src for o in forwarded} == {p[IP].src for p in good}
    assert stats["arp_replies"] == 1 and sum(ARP in o for o in out) == 1
    assert stats["drops"] == len(sent)
    assert drops["not_unicast"] == len(sent)


def test_packets_from_addresses_no_host_sends_from_are_dropped(tmp_path):
    # Forwarded, such a packet gets the backend's answer sent to a group,
    # to nowhere or back into dplb; pinged, dplb would answer it itself.
    other_vip = "10.0.0.101"
    sources = ["255.255.255.255", "224.0.0.1", "239.1.2.3", "240.0.0.1", "127.0.0.1",
               "0.0.0.0", LOCAL, VIP, other_vip]
    eth = Ether(dst=PORT_MAC, src="02:00:00:00:00:99")
    bad = []
    for i, src in enumerate(sources):
        bad += [eth / IP(src=src, dst=VIP) / TCP(sport=5000 + i, dport=80, flags="S"),
                eth / IP(src=src, dst=VIP) / TCP(sport=5000 + i, dport=80, flags="A"),
                eth / IP(src=src, dst=VIP) / ICMP(id=i),
                eth / IP(src=src, dst=LOCAL) / ICMP(id=i)]
    good = [tcp_packet(i) for i in range(len(bad))]
    packets = [p for pair in zip(bad, good) for p in pair]
    text = config() + (f"\n[vip:dns]\naddress = {other_vip}\nport = 53\nprotocol = udp\n"
                       "backend = 10.0.1.1\n")
    out, stats, drops, _ = run_capture(tmp_path, text, packets)
    assert stats["icmp_echo_replies"] == 0 and stats["new_flows"] == len(good)
    assert len(out) == len(good)
    assert all(o[IP].src == LOCAL and o[IP].proto == 4 for o in out)
    assert stats["drops"] == len(bad)
    assert drops["bad_source"] == len(bad)


def test_packet_too_big_for_the_mtu_is_dropped(tmp_path):
    packets = [tcp_packet(1, payload=b"x" * 1440), tcp_packet(2, payload=b"x" * 1460)]
    out, stats, drops, _ = run_capture(tmp_path, config(), packets)
    # 1480-byte inner + 20 fits 1500; 1500 + 20 does not, and without DF
    # there is nobody to tell.
    assert len(out) == 1 and out[0][IP].len == 1500
    assert drops["too_big"] == 1 and stats["icmp_frag_needed_sent"] == 0


@pytest.mark.parametrize("encap,overhead", [("ipip", 20), ("gue", 28)])
def test_too_big_with_df_gets_fragmentation_needed(tmp_path, encap, overhead):
    big = tcp_packet(2, payload=b"x" * 1460)
    big[IP].flags = "DF"
    big = Ether(raw(big))
    out, stats, drops, _ = run_capture(tmp_path, config(encap=encap), [big])
    assert drops["too_big"] == 0 and stats["icmp_frag_needed_sent"] == 1
    assert len(out) == 1
    reply = out[0]
    assert reply[Ether].dst == big[Ether].src and reply[Ether].src == PORT_MAC
    assert reply[IP].src == LOCAL and reply[IP].dst == big[IP].src
    assert ipv4_checksum_ok(raw(reply[IP])[:20])
    icmp = reply[IP].payload
    assert icmp.type == 3 and icmp.code == 4
    assert icmp.nexthopmtu == 1500 - overhead
    # The quote is the client's header and its first 8 bytes (the ports).
    assert raw(icmp)[8:] == raw(big[IP])[:28]
    check = bytearray(raw(icmp))
    total = sum(int.from_bytes(check[i:i + 2], "big") for i in range(0, len(check), 2))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    assert total == 0xffff, "ICMP checksum"


def test_drained_backend_keeps_no_new_flows(tmp_path):
    backends = {"10.0.1.1": "weight=1", "10.0.1.2": "weight=1 state=drain",
                "10.0.1.3": "weight=1 state=down"}
    packets = [tcp_packet(i) for i in range(500)]
    out, stats, _, _ = run_capture(tmp_path, config(backends=backends), packets)
    assert len(out) == 500
    assert {o[IP].dst for o in out} == {"10.0.1.1"}


def test_no_usable_backend_is_counted(tmp_path):
    backends = {"10.0.1.1": "state=down"}
    out, stats, drops, _ = run_capture(tmp_path, config(backends=backends),
                                       [tcp_packet(i) for i in range(10)])
    assert out == []
    assert drops["no_backend"] == 10


@pytest.mark.parametrize("scheduler", ["round-robin", "weighted-round-robin",
                                       "least-connections", "source-hash"])
def test_other_schedulers_spread_and_stick(tmp_path, scheduler):
    flows = 1200
    # Every flow twice, the second round after all flows have begun.
    packets = [tcp_packet(i) for i in range(flows)] * 2
    by_tuple = {five_tuple(p[IP]): p for p in packets}
    out, stats, _, _ = run_capture(tmp_path, config(scheduler=scheduler), packets)
    assert len(out) == len(packets)
    assigned = {}
    for o in out:
        key, backend = check_encapsulated(o, by_tuple, BACKENDS)
        assert assigned.setdefault(key, backend) == backend
    counts = spread(assigned)
    if scheduler == "round-robin":
        assert set(counts.values()) == {flows // 3}
    elif scheduler == "least-connections":
        # Fewest flows per weight: 1:2:1 exactly, as flows never end here.
        assert counts["10.0.1.2"] == 2 * counts["10.0.1.1"] == 2 * counts["10.0.1.3"]
    elif scheduler == "weighted-round-robin":
        assert counts["10.0.1.2"] == flows // 2 and counts["10.0.1.1"] == flows // 4
    else:
        # Source hash: every flow from one client goes to one backend.
        by_client = collections.defaultdict(set)
        for key, backend in assigned.items():
            by_client[key[0]].add(backend)
        assert all(len(b) == 1 for b in by_client.values())
        assert len(counts) == 3


def test_two_instances_make_identical_choices_whatever_the_backend_order(tmp_path):
    packets = [tcp_packet(i) for i in range(3000)]
    reversed_backends = dict(reversed(list(BACKENDS.items())))
    results = []
    for name, backends in (("a", BACKENDS), ("b", reversed_backends)):
        workdir = tmp_path / name
        workdir.mkdir()
        out, _, _, _ = run_capture(workdir, config(backends=backends), packets)
        results.append({five_tuple(IP(raw(o[IP])[20:])): o[IP].dst for o in out})
    assert len(results[0]) == 3000
    assert results[0] == results[1]


def test_two_workers_share_one_state_and_choose_alike(tmp_path):
    """Each queue has its own worker and flow table; the same 5-tuple
    arriving on either queue must get the same backend."""
    flows = [tcp_packet(i) for i in range(1500)]
    queues = [flows, list(reversed(flows))]
    paths = []
    for q, packets in enumerate(queues):
        path = tmp_path / f"in{q}.pcap"
        writer = PcapWriter(str(path), linktype=1, sync=True)
        for p in packets:
            writer.write(p)
        writer.close()
        paths.append(path)
    dplb = Dplb(tmp_path, config(), queue_pcaps=paths).start()
    try:
        stats = dplb.wait_received(2 * len(flows))
    finally:
        code, summary, _ = dplb.stop()
    assert code == 0 and "2 workers" in summary
    assert stats["new_flows"] == 2 * len(flows)  # one entry per worker
    by_tuple = {five_tuple(p[IP]): p for p in flows}
    choices = []
    for out in dplb.output():
        assert len(out) == len(flows)
        choices.append(dict(check_encapsulated(o, by_tuple, BACKENDS) for o in out))
    assert choices[0] == choices[1]


def test_icmp_errors_about_a_flow_reach_its_backend(tmp_path):
    flows = [tcp_packet(i) for i in range(200)]
    router = "192.0.2.1"

    def error_about(packet, icmp_type=3, code=4, src=VIP):
        # What a router on the backend -> client path sends back to the VIP.
        quoted = IP(src=src, dst=packet[IP].src, flags="DF") / TCP(
            sport=packet[TCP].dport, dport=packet[TCP].sport, flags="SA")
        return Ether(raw(Ether(dst=PORT_MAC, src="02:00:00:00:00:98") /
                         IP(src=router, dst=VIP) /
                         ICMP(type=icmp_type, code=code, nexthopmtu=1400) /
                         raw(quoted)[:28]))

    errors = [error_about(p) for p in flows[:100]]
    errors += [error_about(p, icmp_type=11, code=0) for p in flows[100:110]]
    unrelated = [error_about(flows[0], src="10.0.0.99")]
    out, stats, drops, _ = run_capture(tmp_path, config(), flows + errors + unrelated)
    # Within a burst, ICMP is handled before the bulk flow lookup: tell the
    # two kinds apart by what is inside.
    backend_of, forwarded = flows_and_icmp_errors(out)
    assert len(forwarded) == len(errors) and stats["icmp_errors_forwarded"] == len(errors)
    for o, sent in zip(forwarded, errors):
        assert o[IP].proto == 4 and o[IP].src == LOCAL
        inner = raw(o[IP])[20:]
        assert inner == raw(sent[IP]), "the ICMP error is carried unchanged"
        quote = raw(sent[ICMP])[8:]
        client = ".".join(str(b) for b in quote[16:20])
        client_port = int.from_bytes(quote[22:24], "big")
        assert o[IP].dst == backend_of[(client, client_port)]
    assert drops["icmp_unhandled"] == 1


def test_icmp_error_for_an_unknown_round_robin_flow_goes_to_every_backend(tmp_path):
    # No entry for the flow here (it may live on another worker), and
    # round-robin keeps no table to recompute it from: every up backend
    # gets a copy, and the one that has the flow uses it.
    quoted = IP(src=VIP, dst="172.16.9.9", flags="DF") / TCP(sport=80, dport=4321)
    error = Ether(raw(Ether(dst=PORT_MAC, src="02:00:00:00:00:98") /
                      IP(src="192.0.2.1", dst=VIP) /
                      ICMP(type=3, code=4, nexthopmtu=1400) / raw(quoted)[:28]))
    out, stats, _, _ = run_capture(tmp_path, config(scheduler="round-robin"), [error])
    assert sorted(o[IP].dst for o in out) == sorted(BACKENDS)
    assert all(raw(o[IP])[20:] == raw(error[IP]) for o in out)
    assert stats["icmp_errors_forwarded"] == len(BACKENDS)
