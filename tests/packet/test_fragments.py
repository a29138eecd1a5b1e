"""IPv4 fragments through dplb (per VIP: fragments = follow | drop).

Every fragment of a datagram must reach the backend its first fragment
(the only one with ports) was scheduled to, whether it comes after the
first or before it; what cannot be placed that way goes by a hash of
source, destination and protocol; malformed fragments are dropped by
reason. The VIPs here mostly use round-robin, which would give every
packet scheduled on its own another backend: only following the first
fragment keeps a datagram together."""

import collections

from scapy.all import IP, TCP, UDP, Ether, Raw, fragment, raw

from harness.dplb_harness import run_capture
from harness.frames import BACKENDS, GATEWAY_MAC, LOCAL, PORT_MAC, VIP, client, config
from test_forwarding import ipv4_checksum_ok

ETH = Ether(dst=PORT_MAC, src="02:00:00:00:00:99")


def datagram(i, size=3000, sport=None, dport=53, proto="udp", ident=None):
    """A UDP (or TCP) datagram from client i, too big for one packet."""
    l4 = (UDP(sport=sport or 1024 + i, dport=dport) if proto == "udp"
          else TCP(sport=sport or 1024 + i, dport=dport, flags="A"))
    return (IP(src=client(i), dst=VIP, id=1000 + i if ident is None else ident) / l4 /
            Raw(bytes((i + k) % 251 for k in range(size))))


def fragments_of(packet, size=1000):
    """Its fragments as frames, first fragment first."""
    return [Ether(raw(ETH / f)) for f in fragment(packet, fragsize=size)]


def udp_config(**kwargs):
    kwargs.setdefault("scheduler", "round-robin")
    return config(protocol="udp", port=53, **kwargs)


def check_fragment(out, sent):
    """Check one forwarded fragment whole; return (datagram, backend)."""
    assert out[Ether].dst == GATEWAY_MAC and out[Ether].src == PORT_MAC
    outer = out[IP]
    outer_bytes = raw(outer)
    assert ipv4_checksum_ok(outer_bytes[:20])
    assert outer.src == LOCAL and outer.dst in BACKENDS and outer.proto == 4
    assert outer.len == len(outer_bytes)
    inner_bytes = outer_bytes[20:]
    inner = IP(inner_bytes)
    # Carried whole: the fragment as the client sent it, byte for byte.
    assert inner_bytes in sent, "a fragment changed on the way"
    return (inner.src, inner.id), outer.dst, inner.frag


def forwarded(out, frames):
    """(datagram -> backends, datagram -> fragment offsets in output order)."""
    sent = {raw(f[IP]) for f in frames}
    backends = collections.defaultdict(set)
    order = collections.defaultdict(list)
    for o in out:
        key, backend, offset = check_fragment(o, sent)
        backends[key].add(backend)
        order[key].append(offset)
    return backends, order


def test_fragments_in_order_follow_their_first_to_one_backend(tmp_path):
    datagrams = [datagram(i) for i in range(60)]
    frames = [f for d in datagrams for f in fragments_of(d)]
    assert len(frames) == 4 * 60
    out, stats, drops, _ = run_capture(tmp_path, udp_config(), frames)
    assert len(out) == len(frames) and stats["drops"] == 0
    backends, order = forwarded(out, frames)
    assert len(backends) == 60
    assert all(len(b) == 1 for b in backends.values()), "a datagram was split"
    assert all(o == sorted(o) for o in order.values()), "fragments reordered"
    # Round-robin over three backends: the first fragments are what is
    # scheduled, 20 each.
    spread = collections.Counter(next(iter(b)) for b in backends.values())
    assert set(spread.values()) == {20}
    assert stats["fragments_first"] == 60
    assert stats["fragments_followed"] == 3 * 60
    assert stats["fragments_held"] == stats["fragments_hashed"] == 0
    assert stats["new_flows"] == 60


def test_fragments_before_their_first_are_held_and_follow_it(tmp_path):
    # The later fragments first (as some senders send the last first, and
    # as ECMP paths of different lengths deliver them), in reverse order.
    datagrams = [datagram(i) for i in range(60)]
    frames = []
    for d in datagrams:
        pieces = fragments_of(d)
        frames += list(reversed(pieces[1:])) + pieces[:1]
    out, stats, drops, _ = run_capture(tmp_path, udp_config(), frames)
    assert len(out) == len(frames) and stats["drops"] == 0
    backends, order = forwarded(out, frames)
    assert all(len(b) == 1 for b in backends.values()), "a datagram was split"
    spread = collections.Counter(next(iter(b)) for b in backends.values())
    assert set(spread.values()) == {20}
    # The first goes out first, then those held, in the order they came.
    for offsets in order.values():
        assert offsets[0] == 0 and offsets[1:] == sorted(offsets[1:], reverse=True)
    assert stats["fragments_first"] == 60
    assert stats["fragments_held"] == stats["fragments_released"] == 3 * 60
    assert stats["fragments_followed"] == stats["fragments_hashed"] == 0


def test_fragments_of_one_flow_stay_with_its_backend_and_flows_spread(tmp_path):
    # Three datagrams of each of 90 flows, interleaved, first fragments in
    # the middle: a flow's datagrams all go where its first one went, and
    # flows from different sources spread over the backends.
    frames = []
    for round_ in range(3):
        for i in range(90):
            pieces = fragments_of(datagram(i, size=2000, ident=100 * round_ + i))
            frames += pieces[1:2] + pieces[:1] + pieces[2:]
    out, stats, drops, _ = run_capture(tmp_path, udp_config(), frames)
    assert len(out) == len(frames) and stats["drops"] == 0
    backends, _ = forwarded(out, frames)
    by_source = collections.defaultdict(set)
    for (src, _), b in backends.items():
        assert len(b) == 1
        by_source[src] |= b
    assert all(len(b) == 1 for b in by_source.values()), "a flow moved"
    spread = collections.Counter(next(iter(b)) for b in by_source.values())
    assert set(spread.values()) == {30}
    assert stats["new_flows"] == 90


def test_whole_packets_and_fragments_of_a_flow_share_its_backend(tmp_path):
    # A flow's small datagrams go whole, its big ones in fragments: its
    # flow entry holds them together.
    frames = []
    for i in range(30):
        frames.append(Ether(raw(ETH / datagram(i, size=100))))
        frames += fragments_of(datagram(i, ident=5000 + i))
        frames.append(Ether(raw(ETH / datagram(i, size=200, ident=6000 + i))))
    out, stats, _, _ = run_capture(tmp_path, udp_config(), frames)
    assert len(out) == len(frames)
    by_source = collections.defaultdict(set)
    for o in out:
        by_source[IP(raw(o[IP])[20:]).src].add(o[IP].dst)
    assert len(by_source) == 30 and all(len(b) == 1 for b in by_source.values())
    assert stats["new_flows"] == 30


def test_tcp_fragments_follow_too(tmp_path):
    frames = []
    for i in range(30):
        pieces = fragments_of(datagram(i, proto="tcp", dport=80, size=2500))
        frames += pieces[2:] + pieces[:2]
    out, stats, _, _ = run_capture(tmp_path, config(scheduler="round-robin"), frames)
    assert len(out) == len(frames) and stats["drops"] == 0
    backends, _ = forwarded(out, frames)
    assert len(backends) == 30 and all(len(b) == 1 for b in backends.values())
    assert stats["fragments_first"] == 30


def test_gue_fragments_share_their_first_fragments_source_port(tmp_path):
    # The outer UDP source port spreads flows over the backend's queues:
    # a datagram's fragments keep theirs together there too.
    frames = []
    for i in range(20):
        pieces = fragments_of(datagram(i))
        frames += pieces[1:2] + pieces[:1] + pieces[2:]
    out, stats, _, _ = run_capture(tmp_path, udp_config(encap="gue"), frames)
    assert len(out) == len(frames)
    ports = collections.defaultdict(set)
    for o in out:
        inner = IP(raw(o[IP])[28:])
        ports[(inner.src, inner.id)].add((o[IP].dst, o[UDP].sport))
    assert len(ports) == 20 and all(len(p) == 1 for p in ports.values())


def test_fragments_drop_drops_and_counts_every_fragment(tmp_path):
    frames = []
    for i in range(10):
        pieces = fragments_of(datagram(i))
        frames += pieces if i % 2 else pieces[1:] + pieces[:1]
    whole = [Ether(raw(ETH / datagram(100 + i, size=100))) for i in range(5)]
    out, stats, drops, _ = run_capture(
        tmp_path, udp_config(extra_vip="fragments = drop"), frames + whole)
    assert len(out) == len(whole), "whole packets still go"
    assert drops["fragment"] == len(frames) == stats["drops"]
    assert stats["fragments_first"] == stats["fragments_held"] == 0


def test_a_fragment_whose_first_never_comes_goes_by_the_three_tuple_hash(tmp_path):
    # Later fragments only: each is held, its first never comes, and it
    # goes by the hash of (source, destination, protocol), the same for
    # every fragment of a datagram and for every datagram of a source.
    frames = []
    for i in range(40):
        for ident in (1, 2):
            frames += fragments_of(datagram(i, ident=ident))[1:]
    out, stats, drops, _ = run_capture(tmp_path, udp_config(), frames)
    assert len(out) == len(frames) and stats["drops"] == 0
    assert stats["fragments_hashed"] == len(frames)
    assert stats["fragments_first"] == stats["fragments_followed"] == 0
    # The hold holds 64 at a time; the rest went by the hash at once.
    assert 0 < stats["fragments_held"] <= len(frames)
    backends, _ = forwarded(out, frames)
    by_source = collections.defaultdict(set)
    for (src, _), b in backends.items():
        by_source[src] |= b
    assert len(by_source) == 40 and all(len(b) == 1 for b in by_source.values())
    assert len(set().union(*by_source.values())) == 3, "the hash spreads sources"


def test_the_hash_agrees_between_runs_and_with_maglev_weights(tmp_path):
    frames = [f for i in range(600) for f in fragments_of(datagram(i), size=1000)[1:2]]
    results = []
    for run in ("a", "b"):
        workdir = tmp_path / run
        workdir.mkdir()
        out, stats, _, _ = run_capture(workdir, udp_config(scheduler="maglev"), frames)
        assert stats["fragments_hashed"] == len(frames)
        results.append({IP(raw(o[IP])[20:]).src: o[IP].dst for o in out})
    assert results[0] == results[1] and len(results[0]) == 600
    spread = collections.Counter(results[0].values())
    total = sum(BACKENDS.values())
    for backend, weight in BACKENDS.items():
        assert abs(spread[backend] / 600 - weight / total) < 0.08, spread


def test_a_full_hold_sends_by_the_hash_at_once(tmp_path):
    # 100 datagrams' later fragments, no first: 64 are held (the bound),
    # the other 36 go by the hash straight away, the 64 when their time
    # is up.
    frames = [fragments_of(datagram(i))[2] for i in range(100)]
    out, stats, drops, _ = run_capture(tmp_path, udp_config(), frames)
    assert len(out) == 100
    assert stats["fragments_held"] == 64
    assert stats["fragments_hashed"] == 100


def test_orphan_fragments_for_an_address_of_several_vips_are_dropped(tmp_path):
    # Two UDP VIPs on one address: without ports, a fragment could be for
    # either, so one whose first never comes is dropped, counted. Those
    # whose first comes still follow it.
    extra = (f"\n[vip:other]\naddress = {VIP}\nport = 54\nprotocol = udp\n"
             "backend = 10.0.1.9\n")
    orphans = [fragments_of(datagram(i))[1] for i in range(10)]
    followed = []
    for i in range(10, 20):
        pieces = fragments_of(datagram(i, dport=53 + i % 2))
        followed += pieces[1:2] + pieces[:1] + pieces[2:]
    out, stats, drops, _ = run_capture(tmp_path, udp_config() + extra, orphans + followed)
    assert drops["fragment_unplaced"] == 10 == stats["drops"]
    assert len(out) == len(followed)
    by_datagram = collections.defaultdict(set)
    for o in out:
        inner = IP(raw(o[IP])[20:])
        by_datagram[(inner.src, inner.id)].add(o[IP].dst)
        if inner.src in {client(i) for i in range(11, 20, 2)}:
            assert o[IP].dst == "10.0.1.9", "port 54's datagrams go to its VIP"
    assert all(len(b) == 1 for b in by_datagram.values())


def test_fragments_not_for_a_vip_are_not_forwarded(tmp_path):
    pieces = fragments_of(IP(src=client(1), dst="10.0.0.99", id=7) / UDP(dport=53) /
                          Raw(b"z" * 2500))
    out, stats, drops, _ = run_capture(tmp_path, udp_config(), pieces)
    assert out == [] and drops["not_for_vip"] == len(pieces)


def bad(ip, payload):
    return Ether(raw(ETH / ip / Raw(payload)))


MALFORMED = {
    # Reassembled, past 65535 bytes: offset 65528 + 28 (ping of death).
    "bad_fragment": [
        bad(IP(dst=VIP, src=client(1), proto=17, frag=8191), b"x" * 8),
        bad(IP(dst=VIP, src=client(1), proto=6, frag=8100, flags="MF"), b"x" * 1000),
        # Not the last, yet not a multiple of 8 bytes.
        bad(IP(dst=VIP, src=client(1), proto=17, frag=10, flags="MF"), b"x" * 12),
        # A TCP fragment at offset 8 rewrites the TCP header's flags (RFC 1858).
        bad(IP(dst=VIP, src=client(1), proto=6, frag=1), b"x" * 16),
    ],
    "short_first_fragment": [
        # 16 bytes of a 20-byte TCP header.
        bad(IP(dst=VIP, src=client(1), proto=6, flags="MF"), raw(TCP(dport=80))[:16]),
        # A TCP header that says 40 bytes, in a 24-byte fragment.
        bad(IP(dst=VIP, src=client(1), proto=6, flags="MF"),
            raw(TCP(dport=80, dataofs=10))[:20] + b"\0" * 4),
    ],
    # ICMP fragments (big pings) are not forwarded.
    "fragment": [bad(IP(dst=VIP, src=client(1), proto=1, flags="MF"), b"\x08" * 16)],
}


def test_malformed_fragments_are_dropped_by_reason(tmp_path):
    frames = []
    good = []
    for reason, bad_frames in MALFORMED.items():
        for frame in bad_frames:
            frames.append(frame)
            pieces = fragments_of(datagram(len(good), proto="tcp", dport=80, size=1500))
            good += pieces
            frames += pieces
    out, stats, drops, _ = run_capture(tmp_path, config(), frames)
    for reason, bad_frames in MALFORMED.items():
        assert drops[reason] == len(bad_frames), (reason, drops)
    assert stats["drops"] == sum(len(f) for f in MALFORMED.values())
    assert len(out) == len(good)
    backends, _ = forwarded(out, good)
    assert all(len(b) == 1 for b in backends.values())
