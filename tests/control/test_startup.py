"""What dplb says when it starts and stops: the ports and the mbuf pool it
runs on, a clear error naming [dataplane] mbufs when a driver needs more
buffers than the pool has, no DPDK complaint on the way out of a failed
start, and an exit summary that adds up."""

import re
import subprocess

import pytest
from scapy.all import ARP, ICMP, IP, TCP, Ether, raw

from harness.dplb_harness import WAIT_SECONDS, Dplb, PcapWriter, run_capture, wait_for
from harness.frames import LOCAL, PORT_MAC, VIP, config, tcp_packet

CAPTURE_PACKETS = 3000


def write_capture(path, packets):
    writer = PcapWriter(str(path), linktype=1, sync=False)
    for packet in packets:
        writer.write(packet)
    writer.close()
    return path


def test_start_up_says_what_it_runs_on(tmp_path):
    _, _, _, out = run_capture(tmp_path, config(), [tcp_packet(i) for i in range(64)])
    assert re.search(r"^dplb: port 0: driver net_pcap, MAC 02:70:63:61:70:00, Link up at .*, "
                     r"1 RX / 1 TX queues of \d+ / \d+ descriptors$", out, re.M), out
    pool = re.search(r"^dplb: mbuf pool: (\d+) buffers of \d+ bytes, sized from the ports: "
                     r"(\d+) RX \+ (\d+) TX descriptors, (\d+) in per-lcore caches, (\d+) in "
                     r"bursts, (\d+) in the management rings, (\d+) spare$", out, re.M)
    assert pool, out
    total, *parts = (int(n) for n in pool.groups())
    assert total == sum(parts)


def test_mbufs_sets_the_pool(tmp_path):
    _, _, _, out = run_capture(tmp_path, config(extra="mbufs = 20000"),
                               [tcp_packet(i) for i in range(64)])
    assert re.search(r"^dplb: mbuf pool: 20000 buffers of \d+ bytes, set by \[dataplane\] mbufs",
                     out, re.M), out


@pytest.mark.parametrize("mbufs", [2048, 3500], ids=["setup-fails", "too-few-left"])
def test_a_driver_holding_more_than_the_pool_names_the_key(tmp_path, mbufs):
    # net_pcap with infinite_rx keeps a buffer per packet of its capture:
    # with 2048 its RX queue cannot be set up, with 3500 it can but leaves
    # too few to run with.
    capture = write_capture(tmp_path / "big.pcap",
                            [tcp_packet(i) for i in range(CAPTURE_PACKETS)])
    dplb = Dplb(tmp_path, config(extra=f"mbufs = {mbufs}"), rx_pcap=capture,
                pcap_options="infinite_rx=1")
    try:
        result = subprocess.run(dplb.command(), capture_output=True, text=True,
                                timeout=WAIT_SECONDS, cwd=tmp_path)
    finally:
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/{dplb.prefix}"], check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    wanted = re.search(r"^dplb: .*keeps? (\d+) mbufs .*: set \[dataplane\] mbufs to at least "
                       r"(\d+)$", result.stderr, re.M)
    assert wanted, result.stderr
    assert "RING:" not in result.stdout + result.stderr
    assert "already stopped" not in result.stdout + result.stderr
    assert ": running with" not in result.stdout

    # What it asks for is enough.
    with Dplb(tmp_path, config(extra=f"mbufs = {wanted.group(2)}"), rx_pcap=capture,
              pcap_options="infinite_rx=1") as dplb:
        wait_for(lambda: dplb.stats()["tx_packets"] >= 2 * CAPTURE_PACKETS,
                 "dplb to send the capture twice")
        code, out, err = dplb.stop()
    assert code == 0, err


def test_a_reload_cannot_change_mbufs(tmp_path):
    capture = write_capture(tmp_path / "in.pcap", [tcp_packet(i) for i in range(32)])
    with Dplb(tmp_path, config(), rx_pcap=capture) as dplb:
        stats = dplb.reload(config(extra="mbufs = 20000"))
        assert stats["reloads_failed"] == 1 and stats["reloads_ok"] == 0
        code, out, err = dplb.stop()
    assert code == 0, err
    assert "dplb.ini: mbufs cannot change without a restart" in err


def test_the_exit_summary_adds_up(tmp_path):
    """rx = tx + drops + to management, the copies of an ICMP error apart:
    each kind of packet, counted by hand."""
    flows = [tcp_packet(i) for i in range(64)]  # forwarded
    strays = [Ether(dst=PORT_MAC) / IP(dst="10.9.9.9") / TCP(dport=9)] * 5  # not_for_vip
    arp_request = (Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:99") /
                   ARP(op=1, hwsrc="02:00:00:00:00:99", psrc="10.0.0.77", pdst=LOCAL))
    arp_reply = (Ether(dst=PORT_MAC, src="02:00:00:00:00:42") /
                 ARP(op=2, hwsrc="02:00:00:00:00:42", psrc="10.0.0.1", hwdst=PORT_MAC,
                     pdst=LOCAL))  # to the management lcore
    ping = Ether(dst=PORT_MAC, src="02:00:00:00:00:99") / IP(src="10.0.0.77", dst=LOCAL) / ICMP()
    # Round-robin keeps no table: the error goes to each of the 3 backends.
    quoted = IP(src=VIP, dst="172.16.9.9", flags="DF") / TCP(sport=80, dport=4321)
    icmp_error = Ether(raw(Ether(dst=PORT_MAC, src="02:00:00:00:00:98") /
                           IP(src="192.0.2.1", dst=VIP) /
                           ICMP(type=3, code=4, nexthopmtu=1400) / raw(quoted)[:28]))
    packets = flows + strays + [arp_request, arp_reply, ping, icmp_error]
    out, stats, _, summary = run_capture(tmp_path, config(scheduler="round-robin"), packets)
    rx, tx = len(packets), len(flows) + 1 + 1 + 3
    assert len(out) == tx
    assert (f"  balance: rx {rx} = tx {tx} + drops 5 + to management 1 + to kernel 0 - ARP "
            f"requests and kernel frames from management 0 - ICMP error copies 2: "
            f"balances\n") in summary, summary
