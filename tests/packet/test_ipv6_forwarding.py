"""IPv6 through dplb, pcap in and pcap out: the four IP-in-IP combinations
of client and backend families and GUE over either outer family, every
output checked field by field; extension headers carried; neighbor
discovery, ICMPv6 echo and "packet too big"; next hops resolved by ND;
ICMPv6 errors about a VIP's flow sent on to its backend."""

import collections
import ipaddress
import time

import pytest
from scapy.all import (ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6EchoRequest,
                       Dot1Q, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr,
                       ICMPv6PacketTooBig, ICMPv6ParamProblem, ICMPv6TimeExceeded, IP, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, TCP, UDP, Ether,
                       Raw, in6_chksum, raw)

from harness.dplb_harness import BURST, Dplb, run_capture, wait_for
from harness.frames import GATEWAY_MAC, LOCAL, PORT_MAC, config, tcp_packet


CLIENT_MAC = "02:00:00:00:00:99"


def filler():
    """A burst of frames for no VIP: the PMD on a FIFO blocks until a burst
    is full, so this pushes every real frame through."""
    return [Ether(dst=PORT_MAC) / IP(dst="10.9.9.9") / TCP(dport=9)] * BURST
LOCAL6 = "fd00:10::10"
VIP6 = "fd00:10::100"
VIP4 = "10.0.0.100"
GATEWAY_MAC6 = "02:00:00:00:00:61"
BACKENDS6 = {"fd00:11::1": 1, "fd00:11::2": 2, "fd00:11::3": 1}
BACKENDS4 = {"10.0.1.1": 1, "10.0.1.2": 2, "10.0.1.3": 1}


def config6(vip=VIP6, backends=None, encap="ipip", protocol="tcp", port=80, extra="",
            extra_vip="", gateway_mac6=True, scheduler="maglev"):
    """frames.config with dplb's IPv6 address, an IPv6 VIP and IPv6 backends
    unless told otherwise."""
    mac6 = f"gateway_mac6 = {GATEWAY_MAC6}" if gateway_mac6 else ""
    return config(backends=BACKENDS6 if backends is None else backends, encap=encap,
                  protocol=protocol, port=port, extra_vip=extra_vip, scheduler=scheduler,
                  vip=vip, extra=f"address6 = {LOCAL6}\n{mac6}\n{extra}")


def client6(i):
    return str(ipaddress.IPv6Address("2001:db8:c::1") + i)


def tcp6(i, dst=VIP6, dport=80, flags="S", payload=b"", ext=None, tc=0):
    ip = IPv6(src=client6(i % 60000), dst=dst, tc=tc, hlim=50)
    if ext is not None:
        ip = ip / ext
    return Ether(raw(Ether(dst=PORT_MAC, src=CLIENT_MAC) / ip /
                     TCP(sport=1024 + i % 50000, dport=dport, flags=flags) / Raw(payload)))


def udp6(i, dst=VIP6, dport=53, payload=b"query"):
    return Ether(raw(Ether(dst=PORT_MAC, src=CLIENT_MAC) /
                     IPv6(src=client6(i % 60000), dst=dst) /
                     UDP(sport=1024 + i % 50000, dport=dport) / Raw(payload)))


def tcp4(i, **kw):
    return Ether(raw(tcp_packet(i, **kw)))


def ipv4_checksum_ok(header):
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return total == 0xffff


def inner_ip(sent):
    """The client's IP packet as sent, bytes."""
    return raw(sent[IPv6]) if IPv6 in sent else raw(sent[IP])


def unwrap(out, encap, gue_port=6080):
    """Check the outer headers of one output frame; return (outer family,
    outer destination, inner bytes)."""
    frame = raw(out)
    assert out[Ether].src == PORT_MAC
    ether_type = int.from_bytes(frame[12:14], "big")
    if ether_type == 0x0800:
        assert out[Ether].dst == GATEWAY_MAC
        outer = frame[14:34]
        assert outer[0] == 0x45 and ipv4_checksum_ok(outer), "outer IPv4 header"
        assert outer[8] == 64, "TTL"
        assert str(ipaddress.IPv4Address(outer[12:16])) == LOCAL
        assert int.from_bytes(outer[2:4], "big") == len(frame) - 14
        proto, rest, family = outer[9], frame[34:], 4
        dst = str(ipaddress.IPv4Address(outer[16:20]))
    else:
        assert ether_type == 0x86DD
        assert out[Ether].dst == GATEWAY_MAC6
        outer = frame[14:54]
        assert outer[0] >> 4 == 6
        assert int.from_bytes(outer[4:6], "big") == len(frame) - 54, "payload length"
        assert outer[7] == 64, "hop limit"
        flow_label = int.from_bytes(outer[1:4], "big") & 0xfffff
        assert flow_label != 0, "the flow label comes from the flow hash (RFC 6438)"
        assert str(ipaddress.IPv6Address(outer[8:24])) == LOCAL6
        proto, rest, family = outer[6], frame[54:], 6
        dst = str(ipaddress.IPv6Address(outer[24:40]))
    if encap == "gue":
        assert proto == 17
        udp = rest[:8]
        assert int.from_bytes(udp[2:4], "big") == gue_port
        assert int.from_bytes(udp[0:2], "big") >= 49152
        assert int.from_bytes(udp[4:6], "big") == len(rest)
        checksum = int.from_bytes(udp[6:8], "big")
        if family == 4:
            assert checksum == 0
        else:
            # RFC 8200 8.1: over IPv6, a UDP checksum is never zero.
            ip = IPv6(frame[14:])
            assert checksum != 0
            assert in6_chksum(17, ip, rest[:6] + b"\0\0" + rest[8:]) == checksum
        inner = rest[8:]
    else:
        inner = rest
        assert proto == (41 if inner[0] >> 4 == 6 else 4)
    return family, dst, inner, outer


COMBINATIONS = [
    # (VIP, backends, client packet maker)
    pytest.param(VIP4, BACKENDS4, tcp4, id="4in4"),
    pytest.param(VIP6, BACKENDS6, tcp6, id="6in6"),
    pytest.param(VIP4, BACKENDS6, tcp4, id="4in6"),
    pytest.param(VIP6, BACKENDS4, tcp6, id="6in4"),
]


@pytest.mark.parametrize("encap", ["ipip", "gue"])
@pytest.mark.parametrize("vip,backends,make", COMBINATIONS)
def test_each_family_combination_is_encapsulated_exactly(tmp_path, vip, backends, make, encap):
    packets = [make(i, payload=b"y" * (i % 9)) for i in range(600)]
    if make is tcp6:
        # Traffic class (DSCP and ECN) varied, to see it copied outward.
        packets = [tcp6(i, payload=b"y" * (i % 9), tc=(i % 8) * 4 + (i % 3))
                   for i in range(600)]
    sent_inner = {inner_ip(p): p for p in packets}
    out, stats, drops, _ = run_capture(tmp_path, config6(vip=vip, backends=backends,
                                                         encap=encap), packets)
    assert stats["drops"] == 0, drops
    assert len(out) == len(packets)
    assert stats["new_flows"] == len(packets)
    chosen = collections.Counter()
    for o in out:
        family, dst, inner, outer = unwrap(o, encap)
        assert dst in backends
        assert family == ipaddress.ip_address(dst).version
        # The client's packet travels whole, byte for byte.
        sent = sent_inner[inner]
        chosen[dst] += 1
        inner_tos = sent[IPv6].tc if IPv6 in sent else sent[IP].tos
        if family == 4:
            assert outer[1] == inner_tos, "DSCP and ECN copied"
            if IPv6 in sent:
                assert outer[6] & 0x40, "IPv6 inside IPv4 is never fragmented: DF"
        else:
            tc = (int.from_bytes(outer[0:2], "big") >> 4) & 0xff
            assert tc == inner_tos, "traffic class copied"
    assert set(chosen) == set(backends)


def test_ipv6_flows_stick_and_spread_by_weight(tmp_path):
    flows = 6000
    packets = [tcp6(i % flows, flags="A") for i in range(2 * flows)]
    out, stats, _, _ = run_capture(tmp_path, config6(), packets)
    assert len(out) == len(packets) and stats["new_flows"] == flows
    backend_of = {}
    for o in out:
        _, dst, inner, _ = unwrap(o, "ipip")
        ip = IPv6(inner)
        key = (ip.src, ip[TCP].sport)
        assert backend_of.setdefault(key, dst) == dst, f"flow {key} moved"
    counts = collections.Counter(backend_of.values())
    total = sum(BACKENDS6.values())
    for backend, weight in BACKENDS6.items():
        assert abs(counts[backend] / flows - weight / total) < 0.03, counts


def test_two_instances_pick_alike_for_ipv6(tmp_path):
    packets = [udp6(i) for i in range(500)]
    picks = []
    for n, order in enumerate([BACKENDS6, dict(reversed(list(BACKENDS6.items())))]):
        work = tmp_path / str(n)
        work.mkdir()
        out, _, _, _ = run_capture(work, config6(backends=order, protocol="udp", port=53),
                                   packets)
        picks.append({unwrap(o, "ipip")[2]: unwrap(o, "ipip")[1] for o in out})
    assert picks[0] == picks[1]


def test_extension_headers_are_walked_and_carried(tmp_path):
    exts = [IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(),
            IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=[]) / IPv6ExtHdrDestOpt()]
    packets = [tcp6(i, ext=exts[i % len(exts)]) for i in range(90)]
    sent = {inner_ip(p) for p in packets}
    out, stats, drops, _ = run_capture(tmp_path, config6(), packets)
    assert stats["drops"] == 0, drops
    assert len(out) == len(packets)
    assert {unwrap(o, "ipip")[2] for o in out} == sent


def test_malformed_extension_chains_are_dropped_by_reason(tmp_path):
    too_many = IPv6ExtHdrDestOpt()
    for _ in range(12):
        too_many = too_many / IPv6ExtHdrDestOpt()
    late_hop_by_hop = IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop()
    truncated = Ether(raw(tcp6(1, ext=IPv6ExtHdrDestOpt()))[:14 + 40 + 4])
    packets = [tcp6(0, ext=too_many), tcp6(2, ext=late_hop_by_hop), truncated]
    out, stats, drops, _ = run_capture(tmp_path, config6(), packets)
    assert out == []
    assert drops["ipv6_too_many_extensions"] == 1
    assert drops["ipv6_bad_extensions"] == 1
    assert drops["ipv6_truncated_extensions"] + drops["bad_length"] + drops["truncated"] == 1


def test_bad_ipv6_sources_are_dropped(tmp_path):
    sources = ["::", "::1", "ff02::1", "::ffff:10.0.0.1", LOCAL6, VIP6]
    packets = [Ether(raw(Ether(dst=PORT_MAC, src=CLIENT_MAC) / IPv6(src=s, dst=VIP6) /
                         TCP(sport=1000 + i, dport=80, flags="S")))
               for i, s in enumerate(sources)]
    out, stats, drops, _ = run_capture(tmp_path, config6(), packets)
    assert out == [] and drops["bad_source"] == len(sources)


def ns(target, src="fd00:10::77", dst=None, mac_dst=None, with_option=True):
    solicited = ipaddress.IPv6Address(target).packed
    group = "ff02::1:ff" + solicited[13:14].hex() + ":" + solicited[14:16].hex()
    frame = (Ether(dst=mac_dst or "33:33:ff:" + ":".join(f"{b:02x}" for b in solicited[13:]),
                   src=CLIENT_MAC) /
             IPv6(src=src, dst=dst or group, hlim=255) / ICMPv6ND_NS(tgt=target))
    if with_option:
        frame = frame / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC)
    return Ether(raw(frame))


def test_neighbor_solicitations_for_our_address_are_answered(tmp_path):
    # A VIP is routed to dplb, not resolved: as ARP, ND answers for
    # address6 alone (from the solicited-node group or unicast).
    packets = [ns(LOCAL6), ns(VIP6), ns("fd00:10::99"),
               ns(LOCAL6, dst=LOCAL6, mac_dst=PORT_MAC)]
    out, stats, drops, _ = run_capture(tmp_path, config6(), packets)
    adverts = [o for o in out if ICMPv6ND_NA in o]
    assert len(adverts) == 2, [o.summary() for o in out]
    assert drops["icmp_unhandled"] == 2
    for advert, target in zip(adverts, [LOCAL6, LOCAL6]):
        assert advert[Ether].src == PORT_MAC and advert[Ether].dst == CLIENT_MAC
        assert advert[IPv6].hlim == 255 and advert[IPv6].dst == "fd00:10::77"
        assert advert[IPv6].src == target
        na = advert[ICMPv6ND_NA]
        assert na.tgt == target and na.S == 1 and na.O == 1 and na.R == 0
        assert advert[ICMPv6NDOptDstLLAddr].lladdr == PORT_MAC
        rebuilt = IPv6(raw(advert[IPv6]))
        del rebuilt[ICMPv6ND_NA].cksum
        assert IPv6(raw(rebuilt))[ICMPv6ND_NA].cksum == na.cksum, "ICMPv6 checksum"
    assert stats["nd_advertisements"] == 2


def test_invalid_solicitations_are_not_answered(tmp_path):
    low_hop_limit = ns(LOCAL6)
    low_hop_limit[IPv6].hlim = 64
    del low_hop_limit[ICMPv6ND_NS].cksum
    bad_checksum = ns(LOCAL6)
    bad_checksum[ICMPv6ND_NS].cksum ^= 0x5555
    dad_with_option = ns(LOCAL6, src="::")
    packets = [Ether(raw(low_hop_limit)), Ether(raw(bad_checksum)), dad_with_option]
    out, stats, drops, _ = run_capture(tmp_path, config6(), packets)
    assert out == [] and stats["nd_advertisements"] == 0
    assert stats["drops"] == 3


def test_pings_to_our_address_and_a_vip_are_answered(tmp_path):
    pings = [Ether(raw(Ether(dst=PORT_MAC, src=CLIENT_MAC) /
                       IPv6(src="2001:db8:c::5", dst=dst) /
                       ICMPv6EchoRequest(id=7, seq=i, data=b"ping-%d" % i)))
             for i, dst in enumerate([LOCAL6, VIP6, "fd00:10::99"])]
    out, stats, drops, _ = run_capture(tmp_path, config6(), pings)
    assert len(out) == 2 and stats["icmp6_echo_replies"] == 2
    for ping, reply in zip(pings, out):
        assert reply[Ether].dst == CLIENT_MAC and reply[Ether].src == PORT_MAC
        assert reply[IPv6].src == ping[IPv6].dst and reply[IPv6].dst == "2001:db8:c::5"
        echo = reply[ICMPv6EchoReply]
        assert echo.id == 7 and echo.seq == ping[ICMPv6EchoRequest].seq
        assert echo.data == ping[ICMPv6EchoRequest].data
        rebuilt = IPv6(raw(reply[IPv6]))
        del rebuilt[ICMPv6EchoReply].cksum
        assert IPv6(raw(rebuilt))[ICMPv6EchoReply].cksum == echo.cksum


@pytest.mark.parametrize("backends,overhead", [(BACKENDS6, 40), (BACKENDS4, 20)])
def test_too_big_gets_packet_too_big_with_the_tunnel_mtu(tmp_path, backends, overhead):
    mtu = 1400
    big = tcp6(3, flags="A", payload=b"z" * (mtu - 40 - 20 - overhead + 1))
    fits = tcp6(4, flags="A", payload=b"z" * (mtu - 40 - 20 - overhead))
    out, stats, drops, _ = run_capture(tmp_path, config6(backends=backends,
                                                         extra=f"mtu = {mtu}"), [big, fits])
    errors = [o for o in out if ICMPv6PacketTooBig in o]
    assert len(errors) == 1 and len(out) == 2
    error = errors[0]
    assert error[Ether].dst == CLIENT_MAC and error[IPv6].src == LOCAL6
    assert error[IPv6].dst == big[IPv6].src
    assert error[ICMPv6PacketTooBig].mtu == mtu - overhead
    quoted = raw(error[ICMPv6PacketTooBig].payload)
    assert len(raw(error[IPv6])) <= 1280
    assert raw(big[IPv6]).startswith(quoted), "the invoking packet, as much as fits"
    assert stats["icmp6_too_big_sent"] == 1 and drops["too_big"] == 0


def test_packet_too_big_is_rate_limited(tmp_path):
    mtu = 1320  # the least an IPv6 VIP with IPv6 backends may have
    count = 4000
    packets = [tcp6(i, flags="A", payload=b"z" * 1300) for i in range(count)]
    out, stats, drops, _ = run_capture(tmp_path, config6(extra=f"mtu = {mtu}"), packets)
    # At most 1000 a second per worker: the run spans a second or two, so
    # at least 1000 answers and far fewer than one per packet (without the
    # limit every packet would be answered); the rest dropped as too big.
    sent = stats["icmp6_too_big_sent"]
    assert 1000 <= sent <= 3000, sent
    assert sent + drops["too_big"] == count
    assert sent == len([o for o in out if ICMPv6PacketTooBig in o])


GATEWAY6 = "fd00:10::1"


def resolving_config():
    """No static IPv6 MAC: dplb must resolve GATEWAY6 by neighbor discovery."""
    return config6(gateway_mac6=False, extra=f"gateway6 = {GATEWAY6}\nprefix_length6 = 64")


def advert(target, mac, hlim=255, ext=None):
    """target's neighbor advertisement to dplb, saying mac."""
    ip = IPv6(src=target, dst=LOCAL6, hlim=hlim)
    if ext is not None:
        ip = ip / ext
    return Ether(raw(Ether(dst=PORT_MAC, src=GATEWAY_MAC6) / ip /
                     ICMPv6ND_NA(tgt=target, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac)))


def test_unresolved_ipv6_next_hop_is_asked_for_and_learned(tmp_path):
    with Dplb(tmp_path, resolving_config(), fifo=True) as dplb:
        wait_for(lambda: dplb.stats()["nd_solicitations_sent"] >= 1, "a solicitation")
        stray = advert("fd00:10::66", "02:00:00:00:00:66")
        dplb.write([tcp6(0), stray, advert(GATEWAY6, GATEWAY_MAC6)] + filler()[3:])
        dplb.wait_received(BURST)
        wait_for(lambda: dplb.stats()["nd_advertisements_learned"] >= 1, "the answer learned")
        wait_for(lambda: dplb.stats()["next_hop_updates"] >= 1, "the MAC published")
        dplb.write([tcp6(i) for i in range(BURST)])
        dplb.wait_received(2 * BURST)
        stats, drops = dplb.stats(), dplb.drops()
    assert stats["nd_advertisements_learned"] == 1, "only the answer asked for"
    assert drops["no_next_hop"] == 1, "the packet before the answer"
    output = dplb.output()
    solicitations = [o for o in output if ICMPv6ND_NS in o]
    assert solicitations
    for s in solicitations:
        assert s[ICMPv6ND_NS].tgt == GATEWAY6 and s[IPv6].src == LOCAL6
        assert s[IPv6].dst == "ff02::1:ff00:1" and s[Ether].dst == "33:33:ff:00:00:01"
        assert s[IPv6].hlim == 255 and s[ICMPv6NDOptSrcLLAddr].lladdr == PORT_MAC
    sent = [o for o in output if IPv6 in o and o[IPv6].nh == 41]
    assert len(sent) == BURST and all(o[Ether].dst == GATEWAY_MAC6 for o in sent)


def test_with_a_vlan_solicitations_go_out_tagged(tmp_path):
    tagged = Ether(dst=PORT_MAC, src=GATEWAY_MAC6) / Dot1Q(vlan=7) / advert(
        GATEWAY6, GATEWAY_MAC6)[IPv6]
    config_text = config6(gateway_mac6=False,
                          extra=f"gateway6 = {GATEWAY6}\nprefix_length6 = 64\nvlan = 7")
    with Dplb(tmp_path, config_text, fifo=True) as dplb:
        wait_for(lambda: dplb.stats()["nd_solicitations_sent"] >= 1, "a solicitation")
        dplb.write([tagged] + filler()[1:])
        dplb.wait_received(BURST)
        wait_for(lambda: dplb.stats()["nd_advertisements_learned"] >= 1, "the answer learned")
    solicitations = [o for o in dplb.output() if ICMPv6ND_NS in o]
    assert solicitations
    for s in solicitations:
        assert Dot1Q in s and s[Dot1Q].vlan == 7, s.summary()
        assert s[ICMPv6ND_NS].tgt == GATEWAY6 and s[IPv6].src == LOCAL6
        assert s[Ether].dst == "33:33:ff:00:00:01" and s[ICMPv6NDOptSrcLLAddr].lladdr == PORT_MAC


def test_advertisements_not_from_the_link_never_reach_the_management_lcore(tmp_path):
    # A routed advertisement has a hop limit below 255; one behind an
    # extension header is refused too (RFC 6980). Neither may fill the ring
    # that ARP answers share with the workers' advertisements.
    packets = [advert(GATEWAY6, GATEWAY_MAC6, hlim=64),
               advert(GATEWAY6, GATEWAY_MAC6, ext=IPv6ExtHdrDestOpt()),
               advert(GATEWAY6, GATEWAY_MAC6)]
    out, stats, drops, _ = run_capture(tmp_path, config6(), packets)
    assert drops["bad_nd"] == 2
    assert stats["to_management"] == 1, "only the advertisement from the link"


def test_solicitations_behind_extension_headers_are_not_answered(tmp_path):
    solicitation = ns(LOCAL6)
    with_header = Ether(raw(Ether(dst=solicitation[Ether].dst, src=CLIENT_MAC) /
                            IPv6(src="fd00:10::77", dst=solicitation[IPv6].dst, hlim=255) /
                            IPv6ExtHdrDestOpt() / ICMPv6ND_NS(tgt=LOCAL6) /
                            ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC)))
    out, stats, drops, _ = run_capture(tmp_path, config6(), [with_header])
    assert out == [] and drops["bad_nd"] == 1


def test_packet_too_big_comes_from_the_vip_without_address6(tmp_path):
    # An IPv6 VIP served by IPv4 backends needs no address6: the client is
    # told from the address it sent to.
    mtu = 1400
    text = config6(backends=BACKENDS4, extra=f"mtu = {mtu}").replace(
        f"address6 = {LOCAL6}\n", "")
    assert "address6" not in text
    big = tcp6(5, flags="A", payload=b"z" * (mtu - 40 - 20 - 20 + 1))
    out, stats, drops, _ = run_capture(tmp_path, text, [big])
    assert len(out) == 1 and ICMPv6PacketTooBig in out[0]
    assert out[0][IPv6].src == VIP6 and out[0][ICMPv6PacketTooBig].mtu == mtu - 20


def test_a_group_mac_is_never_learned_for_a_next_hop(tmp_path):
    with Dplb(tmp_path, resolving_config(), fifo=True) as dplb:
        wait_for(lambda: dplb.stats()["nd_solicitations_sent"] >= 1, "a solicitation")
        dplb.write([advert(GATEWAY6, "33:33:00:00:00:01")] + filler()[1:])
        dplb.wait_received(BURST)
        wait_for(lambda: dplb.stats()["to_management"] >= 1, "the advertisement handed over")
        dplb.write([tcp6(i) for i in range(BURST)])
        dplb.wait_received(2 * BURST)
        stats, drops = dplb.stats(), dplb.drops()
    assert stats["nd_advertisements_learned"] == 0
    assert drops["no_next_hop"] == BURST


def test_an_advertisement_without_override_never_moves_a_learned_mac(tmp_path):
    # RFC 4861 7.2.5: O clear resolves a next hop we asked about, but leaves
    # one already resolved where it is (a proxy's or an anycast answer);
    # O set moves it.
    other = "02:00:00:00:00:62"

    def without_override(mac):
        return Ether(raw(Ether(dst=PORT_MAC, src=other) /
                         IPv6(src=GATEWAY6, dst=LOCAL6, hlim=255) /
                         ICMPv6ND_NA(tgt=GATEWAY6, S=1, O=0) /
                         ICMPv6NDOptDstLLAddr(lladdr=mac)))

    with Dplb(tmp_path, resolving_config(), fifo=True) as dplb:
        wait_for(lambda: dplb.stats()["nd_solicitations_sent"] >= 1, "a solicitation")
        dplb.write([without_override(GATEWAY_MAC6)] + filler()[1:])
        dplb.wait_received(BURST)
        wait_for(lambda: dplb.stats()["next_hop_updates"] >= 1, "the first answer published")
        dplb.write([without_override(other)] + filler()[1:])
        dplb.wait_received(2 * BURST)
        wait_for(lambda: dplb.stats()["to_management"] >= 2, "the second handed over")
        time.sleep(0.5)  # the management lcore takes it within a tick
        dplb.write([tcp6(i) for i in range(BURST)])
        dplb.wait_received(3 * BURST)
        kept = dplb.stats()
        dplb.write([advert(GATEWAY6, other)] + filler()[1:])
        dplb.wait_received(4 * BURST)
        wait_for(lambda: dplb.stats()["next_hop_updates"] >= 2, "the override published")
        dplb.write([tcp6(i) for i in range(BURST)])
        dplb.wait_received(5 * BURST)
        moved = dplb.stats()
    assert kept["nd_advertisements_learned"] == 1 and kept["next_hop_updates"] == 1
    assert moved["nd_advertisements_learned"] == 2
    sent = [o[Ether].dst for o in dplb.output() if IPv6 in o and o[IPv6].nh == 41]
    assert sent == [GATEWAY_MAC6] * BURST + [other] * BURST


@pytest.mark.parametrize("line,capacity", [("", 65536 // 4), ("flow_table_size6 = 4096", 4096)])
def test_the_ipv6_flow_table_is_flow_table_size6_long(tmp_path, line, capacity):
    assert "flow_table_size = 65536" in config6()
    out, stats, drops, _ = run_capture(tmp_path, config6(extra=line), [tcp6(0)])
    assert stats["flow6_capacity"] == capacity and stats["flows6_active"] == 1


ROUTER6 = "2001:db8:ee::1"
ROUTER_MAC = "02:00:00:00:00:98"


def reply6(packet, src=VIP6, sport=None, ext=None):
    """The bytes of a backend's reply in packet's flow, from the VIP (or
    src) to the client, as a router quotes it."""
    ip = IPv6(src=src, dst=packet[IPv6].src, hlim=63)
    if ext is not None:
        ip = ip / ext
    return raw(ip / TCP(sport=sport or packet[TCP].dport, dport=packet[TCP].sport, flags="A") /
               Raw(b"r" * 1400))


def error6(quote, kind=ICMPv6PacketTooBig, src=ROUTER6, **fields):
    """A router's ICMPv6 error of kind to the VIP quoting the bytes quote,
    checksummed by scapy."""
    if kind is ICMPv6PacketTooBig and "mtu" not in fields:
        fields["mtu"] = 1400
    return Ether(raw(Ether(dst=PORT_MAC, src=ROUTER_MAC) / IPv6(src=src, dst=VIP6) /
                     kind(**fields) / Raw(quote)))


def error6_about(packet, kind=ICMPv6PacketTooBig, quote_len=1232, src=VIP6, sport=None,
                 ext=None, **fields):
    """What a router on the backend -> client path sends back to the VIP
    about the backend's reply in packet's flow: the reply quoted, as much
    as fits in 1280 bytes (or quote_len bytes)."""
    return error6(reply6(packet, src=src, sport=sport, ext=ext)[:quote_len], kind=kind,
                  **fields)


def quoted_client(error):
    """The client (address, port) of the flow an error is about."""
    quote = IPv6(raw(error[IPv6].payload)[8:])
    return quote.dst, quote[TCP].dport


def flows_and_errors6(out, encap="ipip"):
    """dplb's output of TCP flows and ICMPv6 errors about them, apart: the
    backend of each flow by (client, client port), and the errors as
    (backend, inner bytes) in order."""
    backend_of = {}
    errors = []
    for o in out:
        _, dst, inner, _ = unwrap(o, encap)
        ip = IPv6(inner)
        if ip.nh == 58:
            errors.append((dst, inner))
        else:
            backend_of[(ip.src, ip[TCP].sport)] = dst
    return backend_of, errors


@pytest.mark.parametrize("backends", [BACKENDS6, BACKENDS4], ids=["6in6", "6in4"])
def test_icmp6_errors_about_a_flow_reach_its_backend(tmp_path, backends):
    flows = [tcp6(i, flags="A") for i in range(200)]
    errors = [error6_about(p) for p in flows[:100]]
    errors += [error6_about(p, kind=ICMPv6DestUnreach, code=4) for p in flows[100:110]]
    errors += [error6_about(p, kind=ICMPv6TimeExceeded) for p in flows[110:120]]
    errors += [error6_about(p, kind=ICMPv6ParamProblem, code=0, ptr=6) for p in flows[120:130]]
    errors += [error6_about(p, ext=IPv6ExtHdrDestOpt()) for p in flows[130:140]]
    errors += [error6_about(p, quote_len=40 + 8) for p in flows[140:150]]
    out, stats, drops, _ = run_capture(tmp_path, config6(backends=backends), flows + errors)
    # Within a burst, ICMPv6 is handled before the bulk flow lookup: tell
    # the two kinds apart by what is inside.
    backend_of, forwarded = flows_and_errors6(out)
    assert len(backend_of) == len(flows)
    assert len(forwarded) == len(errors) and stats["icmp_errors_forwarded"] == len(errors)
    assert stats["drops"] == 0, drops
    for (backend, inner), sent in zip(forwarded, errors):
        assert inner == raw(sent[IPv6]), "the ICMPv6 error is carried unchanged"
        assert backend == backend_of[quoted_client(sent)]


def test_icmp6_errors_follow_a_moved_flows_entry_not_the_hash(tmp_path):
    # A reload adds a backend: Maglev would now give some established flows
    # to it, but they stay where their entries say, and so do the errors
    # about them.
    flows = [tcp6(i, flags="A") for i in range(3 * BURST)]
    errors = [error6_about(p) for p in flows]
    after = config6(backends={**BACKENDS6, "fd00:11::4": 3})
    with Dplb(tmp_path, config6(), fifo=True) as dplb:
        dplb.write(flows)
        dplb.wait_received(len(flows))
        assert dplb.reload(after)["reloads_ok"] == 1
        dplb.write(errors)
        stats = dplb.wait_received(len(flows) + len(errors))
    backend_of, forwarded = flows_and_errors6(dplb.output())
    assert len(forwarded) == len(errors) and stats["icmp_errors_forwarded"] == len(errors)
    for (backend, _), sent in zip(forwarded, errors):
        assert backend == backend_of[quoted_client(sent)]
    # What the hash alone gives the same flows under the new backends.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    out, _, _, _ = run_capture(fresh, after, flows)
    hashed, _ = flows_and_errors6(out)
    assert len(hashed) == len(flows)
    moved = [flow for flow in hashed if hashed[flow] != backend_of[flow]]
    assert moved, "the new backend takes none of these flows: the test proves nothing"


def test_icmp6_errors_for_round_robin_flows_follow_the_entry_or_go_to_every_backend(tmp_path):
    # Round-robin keeps no table to recompute a flow's backend from: a flow
    # this worker holds has its entry, one it does not gets a copy on every
    # up backend, and the one that has the flow uses it.
    flows = [tcp6(i, flags="A") for i in range(BURST)]
    known = [error6_about(p) for p in flows]
    unknown = error6_about(tcp6(5000, flags="A"), kind=ICMPv6TimeExceeded)
    out, stats, drops, _ = run_capture(tmp_path, config6(scheduler="round-robin"),
                                       flows + known + [unknown])
    backend_of, forwarded = flows_and_errors6(out)
    assert len(set(backend_of.values())) == len(BACKENDS6), "round-robin spreads the flows"
    assert len(forwarded) == len(known) + len(BACKENDS6)
    for (backend, inner), sent in zip(forwarded, known):
        assert inner == raw(sent[IPv6])
        assert backend == backend_of[quoted_client(sent)]
    copies = forwarded[len(known):]
    assert sorted(backend for backend, _ in copies) == sorted(BACKENDS6)
    assert all(inner == raw(unknown[IPv6]) for _, inner in copies), "copies byte for byte"
    assert stats["icmp_errors_forwarded"] == len(known) + len(BACKENDS6)
    assert stats["icmp_error_copies"] == len(BACKENDS6) - 1
    assert stats["drops"] == 0, drops


def test_icmp6_errors_about_no_vip_flow_or_unusable_are_dropped_by_reason(tmp_path):
    flow = tcp6(1, flags="A")
    not_a_vip = [error6_about(flow, src="fd00:10::99"), error6_about(flow, sport=443)]
    cut_short = [error6_about(flow, quote_len=40 + 4), error6_about(flow, quote_len=30),
                 error6_about(flow, ext=IPv6ExtHdrDestOpt(), quote_len=40 + 5)]
    garbage = error6(b"\x45" + reply6(flow)[1:1232])
    bad_checksum = bytearray(raw(error6_about(flow)))
    bad_checksum[14 + 40 + 2] ^= 0x01
    bad_checksum = Ether(bytes(bad_checksum))
    from_the_vip = error6(reply6(flow)[:200], src=VIP6)
    packets = [flow] + not_a_vip + cut_short + [garbage, bad_checksum, from_the_vip]
    out, stats, drops, _ = run_capture(tmp_path, config6(), packets)
    assert len(out) == 1 and stats["icmp_errors_forwarded"] == 0
    assert drops["icmp_unhandled"] == len(not_a_vip)
    assert drops["icmp_bad_quote"] == len(cut_short) + 1
    assert drops["bad_checksum"] == 1
    assert drops["bad_source"] == 1
