"""Mutated frames by the thousand, from a fixed seed: dplb must account for
every one (sent, dropped by reason, or handed to the management lcore),
must never crash (the ASan+UBSan build runs this too), and whatever it sends
must be a well-formed encapsulation toward a backend, or a reply."""

import random

from scapy.all import ARP, ICMP, IP, Raw, raw

from harness.dplb_harness import run_capture
from test_forwarding import BACKENDS, LOCAL, config, ipv4_checksum_ok, tcp_packet, udp_packet

SEED = 20261127
FRAMES = 4000


def mutate(rng, frame):
    data = bytearray(frame)
    kind = rng.randrange(4)
    if kind == 0:  # flip bytes in the headers
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(min(len(data), 14 + 60))] = rng.randrange(256)
    elif kind == 1:  # cut it short
        del data[rng.randrange(1, len(data)):]
    elif kind == 2:  # extend it with junk
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    else:  # junk from the IP header on
        data[14:] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))
    return bytes(data)


def test_mutated_frames_are_all_accounted_and_never_crash(tmp_path):
    rng = random.Random(SEED)
    seeds = [raw(tcp_packet(i, payload=b"p" * (i % 30))) for i in range(50)]
    seeds += [raw(udp_packet(i)) for i in range(50)]
    frames = [Raw(mutate(rng, rng.choice(seeds))) for _ in range(FRAMES)]
    out, stats, drops, _ = run_capture(tmp_path, config(protocol="tcp"), frames)
    assert stats["rx_packets"] == FRAMES
    assert stats["tx_packets"] + stats["drops"] + stats["to_management"] == FRAMES
    assert sum(drops.values()) == stats["drops"]
    # The mix reaches deep: some frames survive, many reasons are hit.
    assert len(out) > 0
    assert sum(1 for count in drops.values() if count) >= 6, drops
    for o in out:
        if ARP in o:
            assert o[ARP].op == 2 and o[ARP].psrc == LOCAL
            continue
        outer = raw(o[IP])
        assert ipv4_checksum_ok(outer[:20])
        if o[IP].src == LOCAL and o[IP].proto == 4:
            assert o[IP].dst in BACKENDS
            assert IP(outer[20:]).len == len(outer) - 20
        else:
            assert ICMP in o and o[ICMP].type == 0, o.summary()
