"""IPv6 fragments through dplb (per VIP: fragments = follow | drop), as
test_fragments.py proves for IPv4: every fragment of a datagram reaches the
backend its first fragment (the only one with ports) went to, in order or
not; what cannot be placed that way goes by a hash of source, destination
and protocol. Round-robin VIPs, so that only following the first fragment
keeps a datagram together."""

import collections

import pytest
from scapy.all import IPv6, IPv6ExtHdrFragment, TCP, UDP, Ether, Raw, fragment6, raw

from harness.dplb_harness import run_capture
from test_ipv6_forwarding import (BACKENDS4, BACKENDS6, CLIENT_MAC, PORT_MAC, VIP6, client6,
                                  config6, unwrap)


def datagram(i, size=3000, dport=53, proto="udp", ident=None):
    """A UDP (or TCP) datagram from client i, too big for one packet, with
    the fragment header fragment6 fills in."""
    l4 = (UDP(sport=1024 + i, dport=dport) if proto == "udp"
          else TCP(sport=1024 + i, dport=dport, flags="A"))
    return (IPv6(src=client6(i), dst=VIP6) /
            IPv6ExtHdrFragment(id=1000 + i if ident is None else ident) / l4 /
            Raw(bytes((i + k) % 251 for k in range(size))))


def fragments_of(packet, size=1000):
    """Its fragments as frames, first fragment first."""
    return [Ether(raw(Ether(dst=PORT_MAC, src=CLIENT_MAC) / f))
            for f in fragment6(packet, size)]


def udp_config(backends=None, **kwargs):
    kwargs.setdefault("scheduler", "round-robin")
    return config6(protocol="udp", port=53, backends=backends, **kwargs)


def forwarded(out, frames, encap="ipip"):
    """(datagram -> backends, datagram -> fragment offsets in output
    order), each fragment checked to arrive byte for byte."""
    sent = {raw(f[IPv6]) for f in frames}
    backends = collections.defaultdict(set)
    order = collections.defaultdict(list)
    for o in out:
        _, backend, inner, _ = unwrap(o, encap)
        assert inner in sent, "a fragment changed on the way"
        packet = IPv6(inner)
        header = packet[IPv6ExtHdrFragment]
        key = (packet.src, header.id)
        backends[key].add(backend)
        order[key].append(header.offset)
    return backends, order


@pytest.mark.parametrize("backends", [BACKENDS6, BACKENDS4], ids=["ipv6-in-ipv6", "ipv6-in-ipv4"])
def test_fragments_in_order_follow_their_first_to_one_backend(tmp_path, backends):
    datagrams = [datagram(i) for i in range(60)]
    frames = [f for d in datagrams for f in fragments_of(d)]
    assert len(frames) == 4 * 60
    out, stats, drops, _ = run_capture(tmp_path, udp_config(backends), frames)
    assert len(out) == len(frames) and stats["drops"] == 0, drops
    found, order = forwarded(out, frames)
    assert len(found) == 60
    assert all(len(b) == 1 for b in found.values()), "a datagram was split"
    assert all(o == sorted(o) for o in order.values()), "fragments reordered"
    # Round-robin over three backends: the first fragments are what is
    # scheduled, 20 each.
    spread = collections.Counter(next(iter(b)) for b in found.values())
    assert set(spread) == set(backends) and set(spread.values()) == {20}
    assert stats["fragments_first"] == 60
    assert stats["fragments_followed"] == 3 * 60


def test_fragments_before_their_first_are_held_and_follow_it(tmp_path):
    frames = []
    for i in range(60):
        pieces = fragments_of(datagram(i))
        frames += list(reversed(pieces[1:])) + pieces[:1]
    out, stats, drops, _ = run_capture(tmp_path, udp_config(), frames)
    assert len(out) == len(frames) and stats["drops"] == 0, drops
    found, order = forwarded(out, frames)
    assert all(len(b) == 1 for b in found.values()), "a datagram was split"
    spread = collections.Counter(next(iter(b)) for b in found.values())
    assert set(spread.values()) == {20}
    # The first goes out first, then those held, in the order they came.
    for offsets in order.values():
        assert offsets[0] == 0 and offsets[1:] == sorted(offsets[1:], reverse=True)
    assert stats["fragments_first"] == 60
    assert stats["fragments_held"] == stats["fragments_released"] == 3 * 60


def test_whole_packets_and_tcp_fragments_of_a_flow_share_its_backend(tmp_path):
    frames = []
    for i in range(30):
        frames.append(Ether(raw(Ether(dst=PORT_MAC, src=CLIENT_MAC) / IPv6(
            src=client6(i), dst=VIP6) / TCP(sport=1024 + i, dport=80, flags="S"))))
        pieces = fragments_of(datagram(i, proto="tcp", dport=80, size=2500))
        frames += pieces[2:] + pieces[:2]
    out, stats, drops, _ = run_capture(tmp_path, config6(scheduler="round-robin"), frames)
    assert len(out) == len(frames) and stats["drops"] == 0, drops
    by_source = collections.defaultdict(set)
    for o in out:
        _, backend, inner, _ = unwrap(o, "ipip")
        by_source[IPv6(inner).src].add(backend)
    assert len(by_source) == 30 and all(len(b) == 1 for b in by_source.values())
    assert stats["new_flows"] == 30 and stats["fragments_first"] == 30


def test_orphan_fragments_go_by_the_three_tuple_hash(tmp_path):
    # Later fragments only: their first never comes, and each goes by the
    # hash of (source, destination, protocol): one backend per source.
    frames = []
    for i in range(40):
        for ident in (1, 2):
            frames += fragments_of(datagram(i, ident=ident))[1:]
    out, stats, drops, _ = run_capture(tmp_path, udp_config(), frames)
    assert len(out) == len(frames) and stats["drops"] == 0, drops
    assert stats["fragments_hashed"] == len(frames)
    found, _ = forwarded(out, frames)
    by_source = collections.defaultdict(set)
    for (src, _), b in found.items():
        by_source[src] |= b
    assert len(by_source) == 40 and all(len(b) == 1 for b in by_source.values())
    assert len(set().union(*by_source.values())) == 3, "the hash spreads sources"


def test_fragments_drop_drops_every_fragment_and_for_no_vip_too(tmp_path):
    frames = [f for i in range(10) for f in fragments_of(datagram(i))]
    stray = [f for i in range(5) for f in fragments_of(
        IPv6(src=client6(i), dst="fd00:10::999") / IPv6ExtHdrFragment(id=i) /
        UDP(sport=1, dport=53) / Raw(b"x" * 2000))]
    out, stats, drops, _ = run_capture(
        tmp_path, udp_config(extra_vip="fragments = drop"), frames + stray)
    assert out == []
    assert drops["fragment"] == len(frames)
    assert drops["not_for_vip"] == len(stray)
    assert stats["fragments_first"] == stats["fragments_held"] == 0


def test_orphans_for_an_address_of_several_vips_are_dropped(tmp_path):
    extra = f"\n[vip:other]\naddress = {VIP6}\nport = 54\nprotocol = udp\nbackend = fd00:11::9\n"
    orphans = [fragments_of(datagram(i))[1] for i in range(10)]
    followed = []
    for i in range(10, 20):
        pieces = fragments_of(datagram(i, dport=53 + i % 2))
        followed += pieces[1:2] + pieces[:1] + pieces[2:]
    out, stats, drops, _ = run_capture(tmp_path, udp_config() + extra, orphans + followed)
    assert drops["fragment_unplaced"] == 10 == stats["drops"]
    assert len(out) == len(followed)
    found, _ = forwarded(out, followed)
    assert all(len(b) == 1 for b in found.values())
    for (src, _), b in found.items():
        if src in {client6(i) for i in range(11, 20, 2)}:
            assert b == {"fd00:11::9"}, "port 54's datagrams go to its VIP"
