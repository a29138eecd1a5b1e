"""Neighbors and ICMP: dplb answers ARP for its address and pings to itself
and its VIPs, resolves next hops by ARP, and never sends to an unresolved
next hop."""

from scapy.all import ARP, ICMP, IP, Dot1Q, Ether, Raw, raw

from harness.dplb_harness import BURST, Dplb, run_capture
from harness.frames import LOCAL, PORT_MAC, VIP, config, tcp_packet
from test_reload import filler

CLIENT_MAC = "02:00:00:00:00:99"
GATEWAY = "10.0.0.1"
GATEWAY_MAC = "02:00:00:00:00:42"


def arp_request(target, sender="10.0.0.77"):
    return (Ether(dst="ff:ff:ff:ff:ff:ff", src=CLIENT_MAC) /
            ARP(op=1, hwsrc=CLIENT_MAC, psrc=sender, pdst=target))


def dynamic_config(extra="", backends=None):
    """No static MACs: next hops must be resolved by ARP."""
    text = config(backends=backends).replace("gateway_mac = 02:00:00:00:00:01",
                                              f"gateway = {GATEWAY}\n{extra}")
    assert "gateway_mac" not in text
    return text


def test_arp_request_for_our_address_is_answered(tmp_path):
    out, stats, _, _ = run_capture(tmp_path, config(), [arp_request(LOCAL),
                                                        arp_request("10.0.0.200")])
    replies = [o for o in out if ARP in o and o[ARP].op == 2]
    assert len(replies) == 1
    reply = replies[0]
    assert reply[Ether].dst == CLIENT_MAC and reply[Ether].src == PORT_MAC
    assert reply[ARP].hwsrc == PORT_MAC and reply[ARP].psrc == LOCAL
    assert reply[ARP].hwdst == CLIENT_MAC and reply[ARP].pdst == "10.0.0.77"
    assert stats["arp_replies"] == 1
    # The request for someone else went to the management lcore, unanswered.
    assert stats["to_management"] == 1


def test_pings_to_dplb_and_to_a_vip_are_answered(tmp_path):
    pings = [Ether(dst=PORT_MAC, src=CLIENT_MAC) / IP(src="172.16.0.5", dst=dst, ttl=20) /
             ICMP(id=7, seq=i) / Raw(b"ping-payload-%d" % i)
             for i, dst in enumerate([LOCAL, VIP])]
    # Ethernet padding after a short ping must not reach the reply.
    pings.append(Ether(raw(Ether(dst=PORT_MAC, src=CLIENT_MAC) /
                           IP(src="172.16.0.5", dst=VIP) / ICMP(seq=9)) + b"\0" * 20))
    pings = [Ether(raw(p)) for p in pings]  # as sent: lengths filled in
    out, stats, _, _ = run_capture(tmp_path, config(), pings)
    assert len(out) == 3 and stats["icmp_echo_replies"] == 3
    for ping, reply in zip(pings, out):
        assert reply[Ether].dst == CLIENT_MAC and reply[Ether].src == PORT_MAC
        assert reply[IP].src == ping[IP].dst and reply[IP].dst == "172.16.0.5"
        assert reply[ICMP].type == 0 and reply[ICMP].seq == ping[ICMP].seq
        # Same length and echo data; the padding of the request is not echoed.
        assert reply[IP].len == ping[IP].len
        assert raw(reply[IP])[28:] == raw(ping[IP])[28:ping[IP].len]
        rebuilt = IP(raw(reply[IP]))
        del rebuilt.chksum
        del rebuilt[ICMP].chksum
        rebuilt = IP(raw(rebuilt))
        assert rebuilt.chksum == reply[IP].chksum, "IP checksum"
        assert rebuilt[ICMP].chksum == reply[ICMP].chksum, "ICMP checksum"


def test_unresolved_next_hop_is_counted_and_asked_for(tmp_path):
    packets = [tcp_packet(i) for i in range(BURST)]
    with Dplb(tmp_path, dynamic_config(), fifo=True) as dplb:
        dplb.write(packets)
        dplb.wait_received(BURST)
        drops = dplb.drops()
        asked = lambda: dplb.stats()["arp_requests_sent"] >= 1
        from harness.dplb_harness import wait_for
        wait_for(asked, "an ARP request for the gateway")
    out = dplb.output()
    assert drops["no_next_hop"] == BURST
    assert not any(IP in o for o in out), "nothing sent to an unresolved next hop"
    requests = [o for o in out if ARP in o and o[ARP].op == 1]
    assert requests, "dplb asked for the gateway"
    for r in requests:
        assert r[Ether].dst == "ff:ff:ff:ff:ff:ff" and r[Ether].src == PORT_MAC
        assert r[ARP].pdst == GATEWAY and r[ARP].psrc == LOCAL
        assert r[ARP].hwsrc == PORT_MAC


def test_answer_resolves_the_next_hop_and_traffic_flows(tmp_path):
    reply = (Ether(dst=PORT_MAC, src=GATEWAY_MAC) /
             ARP(op=2, hwsrc=GATEWAY_MAC, psrc=GATEWAY, hwdst=PORT_MAC, pdst=LOCAL))
    stray = (Ether(dst=PORT_MAC, src="02:00:00:00:00:66") /
             ARP(op=2, hwsrc="02:00:00:00:00:66", psrc="10.0.0.66", pdst=LOCAL))
    from harness.dplb_harness import wait_for
    with Dplb(tmp_path, dynamic_config(), fifo=True) as dplb:
        wait_for(lambda: dplb.stats()["arp_requests_sent"] >= 1, "an ARP request")
        # An answer nobody asked for changes nothing; the gateway's does.
        dplb.write([stray] + [reply] + filler()[2:])
        dplb.wait_received(BURST)
        stats = wait_for(lambda: (lambda s: s if s["next_hop_updates"] >= 1 else None)(
            dplb.stats()), "the learned MAC to be published")
        assert stats["next_hop_updates"] == 1 and stats["arp_answers_learned"] == 1
        dplb.write([tcp_packet(i) for i in range(BURST)])
        dplb.wait_received(2 * BURST)
        drops = dplb.drops()
    assert drops["no_next_hop"] == 0
    sent = [o for o in dplb.output() if IP in o and o[IP].proto == 4]
    assert len(sent) == BURST
    assert all(o[Ether].dst == GATEWAY_MAC for o in sent)


def test_with_a_vlan_requests_go_out_tagged_and_tagged_answers_are_learned(tmp_path):
    from harness.dplb_harness import wait_for
    reply = (Ether(dst=PORT_MAC, src=GATEWAY_MAC) / Dot1Q(vlan=100) /
             ARP(op=2, hwsrc=GATEWAY_MAC, psrc=GATEWAY, hwdst=PORT_MAC, pdst=LOCAL))
    with Dplb(tmp_path, dynamic_config("vlan = 100"), fifo=True) as dplb:
        wait_for(lambda: dplb.stats()["arp_requests_sent"] >= 1, "an ARP request")
        dplb.write([reply] + filler()[1:])
        dplb.wait_received(BURST)
        wait_for(lambda: dplb.stats()["next_hop_updates"] >= 1, "the learned MAC published")
        # Clients' packets keep the tag they came with, whatever vlan says.
        clients = [Ether(dst=PORT_MAC, src=CLIENT_MAC) / Dot1Q(vlan=100) / tcp_packet(i)[IP]
                   for i in range(BURST)]
        dplb.write(clients)
        dplb.wait_received(2 * BURST)
        drops = dplb.drops()
    assert drops["no_next_hop"] == 0
    out = dplb.output()
    requests = [o for o in out if ARP in o and o[ARP].op == 1]
    assert requests, "dplb asked for the gateway"
    for r in requests:
        assert Dot1Q in r and r[Dot1Q].vlan == 100 and r[Dot1Q].prio == 0, r.summary()
        assert r[Ether].dst == "ff:ff:ff:ff:ff:ff" and r[Ether].src == PORT_MAC
        assert r[ARP].pdst == GATEWAY and r[ARP].psrc == LOCAL and r[ARP].hwsrc == PORT_MAC
    sent = [o for o in out if IP in o and o[IP].proto == 4]
    assert len(sent) == BURST
    assert all(o[Ether].dst == GATEWAY_MAC and o[Dot1Q].vlan == 100 for o in sent)


def test_on_link_backends_are_resolved_themselves(tmp_path):
    backends = {"10.0.0.21": 1, "10.0.0.22": 1, "192.168.50.1": 1}
    from harness.dplb_harness import wait_for
    with Dplb(tmp_path, dynamic_config("prefix_length = 24", backends=backends),
              fifo=True) as dplb:
        wait_for(lambda: dplb.stats()["arp_requests_sent"] >= 3, "three ARP requests")
        dplb.write(filler())
        dplb.wait_received(BURST)
    asked = {o[ARP].pdst for o in dplb.output() if ARP in o and o[ARP].op == 1}
    # On-link backends are asked for directly; the other is behind the gateway.
    assert asked == {"10.0.0.21", "10.0.0.22", GATEWAY}


def test_a_group_or_zero_mac_is_never_learned_for_a_next_hop(tmp_path):
    # Broadcast or multicast for the gateway would flood every backend's
    # traffic over the link; a zero MAC reaches no one.
    from harness.dplb_harness import wait_for
    replies = [Ether(dst=PORT_MAC, src=GATEWAY_MAC) /
               ARP(op=2, hwsrc=mac, psrc=GATEWAY, hwdst=PORT_MAC, pdst=LOCAL)
               for mac in ("ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "00:00:00:00:00:00")]
    with Dplb(tmp_path, dynamic_config(), fifo=True) as dplb:
        wait_for(lambda: dplb.stats()["arp_requests_sent"] >= 1, "an ARP request")
        dplb.write(replies + filler()[len(replies):])
        dplb.wait_received(BURST)
        wait_for(lambda: dplb.stats()["to_management"] >= len(replies), "the replies handed over")
        dplb.write([tcp_packet(i) for i in range(BURST)])
        dplb.wait_received(2 * BURST)
        stats, drops = dplb.stats(), dplb.drops()
    assert stats["arp_answers_learned"] == 0 and stats["next_hop_updates"] == 0
    assert drops["no_next_hop"] == BURST
