"""End-to-end: a SYN flood of spoofed sources at twice the flow table's size,
against a dplb carrying long-lived kernel TCP connections (issue 11).

dplb runs with the smallest flow table (1,024 flows, one worker) and the
default tcp_syn_timeout (5 s). What is proven:
- the established connections keep working, on the backends they had,
  while the flood fills the table and after;
- the flood's flows go statelessly beyond the table's room (counted:
  flow_insert_failures, the VIP's table_full_packets), none is dropped;
- the flood's entries leave on the SYN timeout, not the TCP one: no sooner
  than the timeout after the flood ended, and within the sweep's bound
  after it; the table is back to the established flows, counted as
  flows_expired.

The flood is written as raw frames from the client namespace (its sources
are spoofed, so no kernel socket could send them); backends answer with
SYN-ACKs to nowhere, which is what a real flood causes too.

Run as root:  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_syn_flood.py
"""

import os
import random
import socket
import struct
import time

import pytest
from scapy.all import IP, TCP, Ether, raw

from harness.e2e_testbed import (BACKENDS, CLIENT_MAC, LB_MAC, KeepAliveClient, config_text,
                                 dplb_running, in_netns, running_testbed, wait_for)

VIP = "198.18.1.80"
TABLE = 1024  # the smallest flow_table_size
FLOOD = 2 * TABLE
CONNECTIONS = 12
SYN_TIMEOUT = 5  # tcp_syn_timeout's default, which this test proves
FLOOD_CHUNK = 64


def syn_frame(src, sport, dst, dport):
    """An Ethernet frame to dplb: a TCP SYN from src:sport to dst:dport,
    its checksums filled in by scapy."""
    return raw(Ether(dst=LB_MAC, src=CLIENT_MAC) / IP(src=src, dst=dst, flags="DF") /
               TCP(sport=sport, dport=dport, flags="S", seq=random.getrandbits(32)))


def flood_frames(count, seed=11):
    """count SYNs from distinct spoofed sources in 100.64.0.0/10 (shared
    address space: no host on the testbed) to the VIP."""
    rng = random.Random(seed)
    sources = rng.sample(range(1, 1 << 22), count)
    return [syn_frame(socket.inet_ntoa(struct.pack("!I", (100 << 24 | 64 << 16) + s)),
                      rng.randrange(1024, 65536), VIP, 80) for s in sources]


def flood(testbed, lb, count):
    """Send SYNs from distinct spoofed sources until dplb has seen count of
    them (forwarded with an entry or statelessly), a chunk at a time: the
    testbed's kernel (veth, af_packet's ring) drops what a slow dplb (the
    sanitizer build) has not read yet, so each chunk waits, briefly, to be
    seen, and what was lost is made up with more sources."""
    def seen():
        s = lb.stats()
        return s["new_flows"] + s["flow_insert_failures"]

    frames = flood_frames(2 * count)
    sock = in_netns(testbed.ns("client"), socket.socket, socket.AF_PACKET, socket.SOCK_RAW)
    start, sent = seen(), 0
    try:
        sock.bind(("eth0", 0))
        while seen() - start < count:
            assert sent < len(frames), f"{len(frames)} SYNs sent, {seen() - start} seen"
            chunk = frames[sent:sent + min(FLOOD_CHUNK, count - (seen() - start))]
            for frame in chunk:
                sock.send(frame)
            sent += len(chunk)
            deadline = time.monotonic() + 2
            while seen() - start < sent and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        sock.close()
    return sent


@pytest.fixture(scope="module")
def testbed():
    with running_testbed(f"dplb-f{os.getpid()}-", tools=("ip", "ethtool")) as tb:
        yield tb


def flood_config():
    text = config_text([("web", VIP, 80, "tcp", "ipip", {b: 1 for b in BACKENDS.values()})])
    assert "flow_table_size = 65536" in text
    return text.replace("flow_table_size = 65536", f"flow_table_size = {TABLE}")


def vip_counters(lb):
    return lb.telemetry("/dplb/vip,web")


def test_a_syn_flood_ages_out_on_the_syn_timeout_and_spares_established_connections(
        testbed, tmp_path):
    def backends_resolved(lb):
        wait_for(lambda: lb.stats()["arp_answers_learned"] >= 3,
                 "dplb to resolve the three backends by ARP")

    with dplb_running(testbed, tmp_path, flood_config(), ready=backends_resolved) as lb:
        clients = [KeepAliveClient(testbed, VIP) for _ in range(CONNECTIONS)]
        try:
            first = [c.ask()[0] for c in clients]
            established = lb.stats()["flows_active"]
            assert established >= CONNECTIONS

            flood_started = time.monotonic()
            sent = flood(testbed, lb, FLOOD)
            flood_ended = time.monotonic()
            # Every SYN dplb saw was forwarded: by an entry while the table
            # had room, statelessly beyond it.
            stats = lb.stats()
            assert stats["flows_active"] > TABLE // 2, stats
            assert stats["flow_insert_failures"] > 0, stats
            assert vip_counters(lb)["table_full_packets"] == stats["flow_insert_failures"]
            assert lb.drops().get("table_full", 0) == 0

            # The connections still work, on their backends.
            assert [c.ask()[0] for c in clients] == first

            # The flood's entries leave on the SYN timeout: not before it (a
            # flow's second may have begun up to 1 s before the flood ended),
            # and within the sweep's bound (1.5 timeouts) plus slack.
            wait_for(lambda: lb.stats()["flows_active"] <= established,
                     "the flood's flows to expire", timeout=6 * SYN_TIMEOUT)
            gone_after = time.monotonic() - flood_ended
            assert gone_after >= SYN_TIMEOUT - 1, f"expired after {gone_after:.1f} s"
            stats = lb.stats()
            assert stats["flows_expired"] >= stats["new_flows"] - established, stats
            print(f"flood of {FLOOD} SYNs ({sent} sent, in {flood_ended - flood_started:.1f} s): "
                  f"{stats['flow_insert_failures']} went statelessly, "
                  f"{stats['flows_expired']} entries expired {gone_after:.1f} s after it")

            # And after: the connections go on, on the same backends.
            assert [c.ask()[0] for c in clients] == first
        finally:
            for c in clients:
                c.close()
