"""mss_clamp: a SYN to the VIP (IPv4 or IPv6) whose MSS option is above the clamp reaches
the backend with the clamp as its MSS and a TCP checksum still right;
everything else (smaller MSS, no MSS, not a SYN, a malformed option list,
a VIP without the key) reaches it byte for byte. Counted per worker and per
VIP; a reload turns it on and off."""

import pytest
from scapy.all import (IP, TCP, Ether, IPv6, IPv6ExtHdrDestOpt, Raw, defragment, fragment,
                       in6_chksum, raw)

from harness.dplb_harness import BURST, Dplb, PcapWriter
from harness.frames import BACKENDS, config, five_tuple, tcp_packet
from test_forwarding import check_encapsulated
from test_ipv6_forwarding import CLIENT_MAC, PORT_MAC, VIP6, client6, config6, unwrap

CLAMP = 1400
MSS_1460 = b"\x02\x04\x05\xb4"
LINUX_SYN = MSS_1460 + b"\x04\x02\x08\x0a\x00\x01\x02\x03\x00\x00\x00\x00\x01\x03\x03\x07"


def syn(i, options, flags="S", data=b"data", **ip):
    """A segment of flow i whose header carries these option bytes as they
    are (padded with end-of-list to a word), checksummed by scapy."""
    options += b"\x00" * (-len(options) % 4)
    p = tcp_packet(i, flags=flags, **ip)
    p[TCP].dataofs = 5 + len(options) // 4
    p[TCP].remove_payload()
    p = p / Raw(options + data)
    return Ether(raw(p))


def tcp_checksum_ok(ip_bytes):
    ihl = (ip_bytes[0] & 0xF) * 4
    segment = ip_bytes[ihl:]
    pseudo = ip_bytes[12:20] + b"\x00\x06" + len(segment).to_bytes(2, "big")
    data = pseudo + segment + b"\0" * (len(segment) % 2)
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return total == 0xffff


def inner_bytes(out, encap="ipip"):
    return raw(out[IP])[20 if encap == "ipip" else 28:]


def run(tmp_path, text, packets):
    """Through dplb; returns (output, stats, the VIP's JSON)."""
    in_pcap = tmp_path / "in.pcap"
    writer = PcapWriter(str(in_pcap), linktype=1, sync=True)
    for packet in packets:
        writer.write(packet)
    writer.close()
    dplb = Dplb(tmp_path, text, rx_pcap=in_pcap).start()
    try:
        stats = dplb.wait_received(len(packets))
        status, _, vip = dplb.http("GET", "/vips/web")
        assert status == 200
    finally:
        code, _, err = dplb.stop()
    assert code == 0, err
    return dplb.output(), stats, vip


def expect_clamped(out, sent, encap="ipip"):
    """out carries sent with MSS CLAMP: the only bytes changed are the MSS
    value and the TCP checksum, which is right."""
    got, want = inner_bytes(out, encap), raw(sent[IP])
    assert len(got) == len(want)
    # The tunnel checked as for any packet, against what dplb should send.
    check_encapsulated(out, {five_tuple(sent[IP]): Ether(raw(sent)[:14] + got)}, BACKENDS,
                       encap=encap)
    ihl = sent[IP].ihl * 4
    at = want.index(MSS_1460, ihl + 20) + 2
    assert got[at:at + 2] == CLAMP.to_bytes(2, "big")
    assert tcp_checksum_ok(got), "TCP checksum after the clamp"
    changed = [i for i in range(len(want)) if got[i] != want[i]]
    assert set(changed) <= {at, at + 1, ihl + 16, ihl + 17}, changed


@pytest.mark.parametrize("encap", ["ipip", "gue"])
def test_syns_above_the_clamp_are_clamped_and_the_rest_untouched(tmp_path, encap):
    clamped = [syn(0, MSS_1460), syn(1, LINUX_SYN),
               syn(2, b"\x01" + MSS_1460),                       # at an odd offset
               syn(3, b"\x01\x01\x01\x04\x02" + MSS_1460 + b"\x01\x03\x03\x07"),
               syn(4, MSS_1460, tos=0x10, flags="SE"),           # ECN setup: still a SYN
               syn(5, MSS_1460 + b"\x01" * 36)]                  # 60-byte header
    # With IP options: the TCP header is found after them.
    with_ip_options = tcp_packet(6).copy()
    with_ip_options[IP].options = [b"\x01\x01\x01\x00"]
    with_ip_options[TCP].dataofs = 6
    with_ip_options[TCP].remove_payload()
    clamped.append(Ether(raw(with_ip_options / Raw(MSS_1460))))
    untouched = [syn(10, b"\x02\x04\x05\x14"),                   # 1300: below the clamp
                 syn(11, b"\x02\x04" + CLAMP.to_bytes(2, "big")),  # equal to it
                 syn(12, b""),                                   # no options
                 syn(13, b"\x01\x01\x04\x02"),                   # options, no MSS
                 syn(14, MSS_1460, flags="SA"),                  # SYN-ACK
                 syn(15, MSS_1460, flags="A"),                   # not a SYN
                 syn(16, MSS_1460, flags="PA"),
                 # Malformed lists: left for the receiver to judge.
                 syn(17, b"\x08\x00" + MSS_1460),                # an option of length 0
                 syn(18, MSS_1460 + b"\x08\x0a\x00\x00"),        # one beyond the header
                 syn(19, b"\x02\x03\x05\xb4"),                   # MSS of length 3
                 syn(20, MSS_1460 + MSS_1460),                   # two MSS options
                 syn(21, b"\x00\x00\x00\x00" + MSS_1460)]        # after the end of the list
    packets = clamped + untouched
    out, stats, vip = run(tmp_path, config(encap=encap, extra_vip=f"mss_clamp = {CLAMP}"),
                          packets)
    assert len(out) == len(packets) and stats["drops"] == 0
    by_client = {p[IP].src: p for p in packets}
    outs = {IP(inner_bytes(o, encap)).src: o for o in out}
    for sent in clamped:
        expect_clamped(outs[sent[IP].src], sent, encap)
    for sent in untouched:
        o = outs[sent[IP].src]
        check_encapsulated(o, {five_tuple(sent[IP]): sent}, BACKENDS, encap=encap)
        assert inner_bytes(o, encap) == raw(by_client[sent[IP].src][IP])
    assert stats["mss_clamped"] == len(clamped)
    assert vip["mss_clamp"] == CLAMP and vip["mss_clamped"] == len(clamped)


def test_a_fragmented_syn_is_clamped_in_its_first_fragment(tmp_path):
    """A SYN with data (TCP Fast Open) too big for the client's link comes
    in fragments: the first, which holds the whole TCP header, is clamped,
    and the datagram the backend reassembles carries a right checksum."""
    sent = syn(0, LINUX_SYN, data=b"y" * 1200)
    pieces = [Ether(dst=sent.dst, src=sent.src) / f for f in fragment(sent[IP], fragsize=600)]
    assert len(pieces) == 3
    out, stats, vip = run(tmp_path, config(extra_vip=f"mss_clamp = {CLAMP}"), pieces)
    assert len(out) == 3 and stats["drops"] == 0
    inner = [IP(inner_bytes(o)) for o in out]
    whole = defragment(inner)
    assert len(whole) == 1
    got, want = raw(whole[0]), raw(sent[IP])
    ihl = sent[IP].ihl * 4
    at = want.index(MSS_1460, ihl + 20) + 2
    assert got[at:at + 2] == CLAMP.to_bytes(2, "big")
    assert tcp_checksum_ok(got), "TCP checksum of the reassembled SYN"
    assert stats["mss_clamped"] == 1 and vip["mss_clamped"] == 1


def test_without_the_key_nothing_is_clamped(tmp_path):
    packets = [syn(0, MSS_1460), syn(1, LINUX_SYN)]
    out, stats, vip = run(tmp_path, config(), packets)
    assert len(out) == 2
    by_tuple = {five_tuple(p[IP]): p for p in packets}
    for o in out:
        check_encapsulated(o, by_tuple, BACKENDS)
    assert stats["mss_clamped"] == 0 and vip["mss_clamp"] == 0 and vip["mss_clamped"] == 0


def test_a_reload_turns_clamping_on(tmp_path):
    first = [syn(i, MSS_1460) for i in range(BURST)]
    second = [syn(BURST + i, MSS_1460) for i in range(BURST)]
    with Dplb(tmp_path, config(), fifo=True) as dplb:
        dplb.write(first)
        dplb.wait_received(BURST)
        reloaded = dplb.reload(config(extra_vip=f"mss_clamp = {CLAMP}"))
        dplb.write(second)
        stats = dplb.wait_received(2 * BURST)
        status, _, vip = dplb.http("GET", "/vips/web")
    assert reloaded["reloads_ok"] == 1
    assert status == 200 and vip["mss_clamp"] == CLAMP
    assert stats["mss_clamped"] == BURST
    out = dplb.output()
    assert len(out) == 2 * BURST
    sent = {p[IP].src: p for p in first + second}
    for o in out[:BURST]:
        assert inner_bytes(o) == raw(sent[IP(inner_bytes(o)).src][IP])
    for o in out[BURST:]:
        expect_clamped(o, sent[IP(inner_bytes(o)).src])


def test_an_ipv6_syn_is_clamped_too(tmp_path):
    # An IPv6 VIP (IPv6 in IPv6): the clamp rewrites the option behind the
    # IPv6 header and its extension headers, and the checksum (over the
    # IPv6 pseudo-header) stays right.
    frames = []
    for i, ip in enumerate((IPv6(src=client6(1), dst=VIP6),
                            IPv6(src=client6(2), dst=VIP6) / IPv6ExtHdrDestOpt())):
        frames.append(Ether(raw(Ether(dst=PORT_MAC, src=CLIENT_MAC) / ip / TCP(
            sport=1000 + i, dport=80, flags="S", options=[("MSS", 1460), ("SAckOK", b"")]))))
    out, _, _ = run(tmp_path, config6(extra_vip="mss_clamp = 1300"), frames)
    assert len(out) == 2
    for o in out:
        _, _, inner, _ = unwrap(o, "ipip")
        packet = IPv6(inner)
        assert dict(packet[TCP].options)["MSS"] == 1300
        segment = raw(packet[TCP])
        checksum = int.from_bytes(segment[16:18], "big")
        assert in6_chksum(6, packet[TCP].underlayer,
                          segment[:16] + b"\0\0" + segment[18:]) == checksum
