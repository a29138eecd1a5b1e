"""IPv4 packets with options (IHL 6 to 15) are forwarded, not dropped: the
client's header reaches the backend byte for byte inside the tunnel, the
ports are read after the options, the checksum covers them, and the ICMP
dplb sends or forwards quotes them right. Every output packet is checked
field by field, as in test_forwarding.py."""

import struct

import pytest
from scapy.all import ICMP, IP, TCP, Ether, IPOption_RR, Raw, raw

from harness.dplb_harness import run_capture
from harness.frames import (BACKENDS, LOCAL, PORT_MAC, VIP, config, five_tuple, tcp_packet,
                            udp_packet)
from test_forwarding import check_encapsulated, flows_and_icmp_errors, ipv4_checksum_ok

CLIENT_MAC = "02:00:00:00:00:99"

# Option lists of every length that matters, each a whole number of words.
OPTIONS = {
    6: [b"\x01\x01\x01\x00"],                                  # NOP padding, end of list
    8: [IPOption_RR(pointer=4, routers=["0.0.0.0"] * 2), b"\x00" * 1],  # record route, room for 2
    14: [IPOption_RR(pointer=8, routers=["192.0.2.1"] + ["0.0.0.0"] * 7), b"\x00"],
    15: [b"\x01" * 39 + b"\x00"],                              # the most: 40 bytes
}


def with_options(packet, ihl):
    """packet (Ether / IP / ...) with the options of OPTIONS[ihl], every
    length and checksum made right by scapy; checked to have that IHL."""
    packet = packet.copy()
    packet[IP].options = OPTIONS[ihl]
    packet = Ether(raw(packet))
    assert packet[IP].ihl == ihl, (packet[IP].ihl, ihl)
    return packet


def ones_complement_sum(data):
    """The 16-bit ones' complement sum of data (0xffff over a message with
    its right checksum in it)."""
    data = bytes(data) + b"\0" * (len(data) % 2)
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return total


def ones_complement_ok(data):
    return ones_complement_sum(data) == 0xffff


def with_checksum(data, at):
    """data with the 2-byte checksum at offset at made right."""
    data = bytearray(data)
    data[at:at + 2] = b"\0\0"
    data[at:at + 2] = struct.pack("!H", ~ones_complement_sum(data) & 0xffff)
    return bytes(data)


@pytest.mark.parametrize("encap", ["ipip", "gue"])
def test_packets_with_options_are_forwarded_with_their_header_whole(tmp_path, encap):
    # Each flow twice: first without options, then with them. Were the
    # ports read from the options, the second packet would be another flow.
    flows = 400
    plain = [tcp_packet(i, payload=b"x" * (i % 5)) if i % 2 else udp_packet(i)
             for i in range(flows)]
    ihls = list(OPTIONS)
    optioned = [with_options(p, ihls[i % len(ihls)]) for i, p in enumerate(plain)]
    text = config(encap=encap, protocol="tcp")
    # One TCP and one UDP VIP on the same address.
    text += f"\n[vip:dns]\naddress = {VIP}\nport = 53\nprotocol = udp\nencap = {encap}\n"
    text += "".join(f"backend = {b} weight={w}\n" for b, w in BACKENDS.items())
    out, stats, drops, _ = run_capture(tmp_path, text, plain + optioned)
    assert stats["drops"] == 0, drops
    assert len(out) == 2 * flows
    assert stats["new_flows"] == flows, "a packet with options was taken for another flow"
    backend_of = {}
    for o, sent in zip(out[:flows], plain):
        key, backend = check_encapsulated(o, {five_tuple(sent[IP]): sent}, BACKENDS, encap=encap)
        backend_of[key] = backend
    for o, sent in zip(out[flows:], optioned):
        key, backend = check_encapsulated(o, {five_tuple(sent[IP]): sent}, BACKENDS, encap=encap)
        assert backend == backend_of[key]
        # The options themselves, and the outer header's length with them.
        inner = IP(raw(o[IP])[20 if encap == "ipip" else 28:])
        assert inner.ihl == sent[IP].ihl and inner.options == sent[IP].options
        assert o[IP].len == 20 + (8 if encap == "gue" else 0) + sent[IP].len


def test_options_are_checked_by_the_checksum_and_the_length(tmp_path):
    good = with_options(tcp_packet(1), 8)
    ip = bytearray(raw(good[IP]))
    ip[22] ^= 0xff  # a byte of the record-route option; checksum left as it was
    bad_checksum = Ether(raw(good)[:14] + bytes(ip))
    # IHL 15 (60 bytes) in a 40-byte packet: the header would run past it.
    plain = raw(tcp_packet(2)[IP])
    header = with_checksum(b"\x4f" + plain[1:20], 10)
    too_long = Ether(dst=PORT_MAC, src=CLIENT_MAC, type=0x0800) / Raw(header + plain[20:])
    # IHL 6 and a total length of 24: a header, no TCP after it.
    header_only = Ether(raw(Ether(dst=PORT_MAC, src=CLIENT_MAC) /
                            IP(dst=VIP, proto=6, options=[b"\x01\x01\x01\x00"])))
    packets = [bad_checksum, good, too_long, header_only]
    out, stats, drops, _ = run_capture(tmp_path, config(), packets)
    assert drops["bad_checksum"] == 1 and drops["bad_ihl"] == 1 and drops["bad_l4"] == 1
    assert stats["drops"] == 3
    assert len(out) == 1
    check_encapsulated(out[0], {five_tuple(good[IP]): good}, BACKENDS)


def answer(tmp_path, packet, counter):
    """The one frame dplb sends back to the client for packet, counted in
    counter, from a header of its own without options: (IP header fields,
    the ICMP message's bytes)."""
    out, stats, drops, _ = run_capture(tmp_path, config(), [packet])
    assert stats[counter] == 1 and stats["drops"] == 0, drops
    assert len(out) == 1
    reply = out[0]
    assert reply[Ether].dst == CLIENT_MAC and reply[Ether].src == PORT_MAC
    ip = raw(reply[IP])
    assert reply[IP].ihl == 5 and reply[IP].len == len(ip) and ipv4_checksum_ok(ip[:20])
    assert reply[IP].dst == packet[IP].src
    return reply[IP], ip[20:]


@pytest.mark.parametrize("ihl", [6, 15])
def test_fragmentation_needed_quotes_the_header_with_its_options(tmp_path, ihl):
    big = tcp_packet(2, payload=b"x" * 1460)
    big[IP].flags = "DF"
    big = with_options(big, ihl)
    ip, icmp = answer(tmp_path, big, "icmp_frag_needed_sent")
    # Its length counts the longer quote.
    assert ip.src == LOCAL and ip.len == 20 + 8 + ihl * 4 + 8
    assert icmp[0] == 3 and icmp[1] == 4
    assert int.from_bytes(icmp[6:8], "big") == 1500 - 20
    # The client's header, options and all, and the 8 bytes after it.
    assert icmp[8:] == raw(big[IP])[:ihl * 4 + 8]
    assert ones_complement_ok(icmp), "ICMP checksum"


def error_about(packet, quoted_options=None, outer_options=None):
    """What a router on the backend -> client path sends back to the VIP
    about a packet of packet's flow, the quoted header with quoted_options,
    its own with outer_options."""
    quoted = IP(src=VIP, dst=packet[IP].src, flags="DF",
                options=quoted_options or []) / TCP(sport=packet[TCP].dport,
                                                    dport=packet[TCP].sport, flags="SA")
    quoted = raw(quoted)
    quote = quoted[:(quoted[0] & 0xF) * 4 + 8]
    return Ether(raw(Ether(dst=PORT_MAC, src="02:00:00:00:00:98") /
                     IP(src="192.0.2.1", dst=VIP, options=outer_options or []) /
                     ICMP(type=3, code=4, nexthopmtu=1400) / quote))


def test_icmp_errors_quoting_headers_with_options_reach_the_flows_backend(tmp_path):
    flows = [tcp_packet(i) for i in range(120)]
    errors = [error_about(p, quoted_options=OPTIONS[[6, 8, 14, 15][i % 4]])
              for i, p in enumerate(flows[:60])]
    # The router's own header with options too, and both.
    errors += [error_about(p, outer_options=OPTIONS[8]) for p in flows[60:80]]
    errors += [error_about(p, quoted_options=OPTIONS[15], outer_options=OPTIONS[15])
               for p in flows[80:100]]
    # A quote whose IHL claims more than the quote holds: unusable.
    lying = raw(error_about(flows[0]))
    icmp = bytearray(lying[14 + 20:])
    icmp[8] = 0x4F
    lying = Ether(lying[:14 + 20] + with_checksum(icmp, 2))
    out, stats, drops, _ = run_capture(tmp_path, config(), flows + errors + [lying])
    backend_of, forwarded = flows_and_icmp_errors(out)
    assert len(forwarded) == len(errors) and stats["icmp_errors_forwarded"] == len(errors)
    for o, sent in zip(forwarded, errors):
        assert o[IP].proto == 4 and o[IP].src == LOCAL
        assert raw(o[IP])[20:] == raw(sent[IP]), "the ICMP error is carried unchanged"
        quote = raw(sent[IP])[sent[IP].ihl * 4 + 8:]
        client = ".".join(str(b) for b in quote[16:20])
        client_port = int.from_bytes(quote[(quote[0] & 0xF) * 4 + 2:][:2], "big")
        assert o[IP].dst == backend_of[(client, client_port)]
    assert drops["icmp_unhandled"] == 1


def test_a_ping_with_options_is_answered_without_them(tmp_path):
    ping = with_options(Ether(dst=PORT_MAC, src=CLIENT_MAC) /
                        IP(src="172.16.0.9", dst=VIP) / ICMP(id=7, seq=3) / Raw(b"ping" * 8), 8)
    ip, icmp = answer(tmp_path, ping, "icmp_echo_replies")
    assert ip.src == VIP and ip.len == 20 + 8 + 32
    assert icmp[0] == 0 and icmp[1] == 0
    assert icmp[4:] == raw(ping[ICMP])[4:], "identifier, sequence and data echoed"
    assert ones_complement_ok(icmp), "ICMP checksum"
