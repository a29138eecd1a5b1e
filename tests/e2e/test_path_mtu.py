"""End-to-end: path MTU discovery through dplb (issue 11), on the scale-out
testbed (scripts/testbed-scale) with one dplb instance announcing the VIP
to the router by BGP.

The far client (198.18.2.2) sits behind a 1,280-byte link: the router's
side of it has MTU 1280, while the client's own interface keeps 1500, so
the client advertises a 1460-byte MSS and the backends send full-sized
segments. Those come back directly from the backends (DSR) and meet the
narrow link at the router, which answers each with ICMP "fragmentation
needed" (MTU 1280) addressed to their source: the VIP. The router routes
it to dplb, which sends it to the backend of the flow it quotes, whose
kernel lowers its path MTU; without that the download would stall (the
backends do no packetization-layer probing: tcp_mtu_probing = 0, checked).

Proven: a 10 MB download over one connection completes, byte-exact, and
dplb counts the ICMP errors it forwarded.

Run as root:  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_path_mtu.py
"""

import os

import pytest

from harness.e2e_testbed import (BACKEND_MACS, BACKENDS, LiveDplb, download_past_a_narrow_link,
                                 router_paths, running_scale_testbed, wait_for)

VIP = "198.18.1.80"
LB_ADDRESS = "198.18.0.10"
NARROW_MTU = 1280
DOWNLOAD = 10 << 20


def config():
    lines = ["[dataplane]", "ports = 0", f"address = {LB_ADDRESS}", "prefix_length = 24",
             "exception_path = tap", "announce_table = 100", "flow_table_size = 65536", "",
             "[management]", "listen = 127.0.0.1:8080", "",
             "[vip:web]", f"address = {VIP}", "port = 80", "protocol = tcp",
             "health_check = none"]
    lines += [f"backend = {BACKENDS[b]} mac={BACKEND_MACS[b]}" for b in ("b1", "b2", "b3")]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def testbed():
    with running_scale_testbed(f"dplb-m{os.getpid()}-",
                               tools=("ip", "ethtool", "bird", "birdc", "curl")) as tb:
        yield tb


def router_has_path(testbed):
    return LB_ADDRESS in router_paths(testbed, VIP)


def test_a_client_behind_a_narrow_link_downloads_through_dplb(testbed, tmp_path):
    for b in ("b1", "b2", "b3"):
        res = testbed.exec(b, "sysctl", "-n", "net.ipv4.tcp_mtu_probing")
        assert res.stdout.strip() == "0", "the test needs backends that rely on ICMP"
    testbed.exec("router", "ip", "link", "set", "eth1", "mtu", str(NARROW_MTU))
    lb = LiveDplb(testbed, tmp_path)  # the lb namespace, with its tap
    try:
        lb.start(config())
        wait_for(lambda: router_has_path(testbed), "the router to learn the VIP from dplb")
        forwarded = download_past_a_narrow_link(lb, testbed.ns("far"),
                                                f"http://{VIP}/bytes/{DOWNLOAD}", DOWNLOAD)
        print(f"\n[path mtu] {DOWNLOAD} bytes through a {NARROW_MTU}-byte link: "
              f"{forwarded} ICMP fragmentation-needed forwarded to the backend")
    finally:
        code, out, err = lb.stop()
        testbed.exec("router", "ip", "link", "set", "eth1", "mtu", "1500", check=False)
    assert code == 0, f"dplb exited {code}:\n{out}\n{err}"
