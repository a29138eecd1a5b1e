"""End-to-end: IPv6 path MTU discovery through dplb (issue 11), as
test_path_mtu.py proves it for IPv4, on the one-segment testbed
(scripts/testbed) with a far client added behind the client namespace,
which routes for it.

    far (fd00:db1c::2, eth0 MTU 1500)
     |  veth; the client's side of it, far0, has MTU 1280
    client (fd00:db1c::1, routes between far and the segment)
     |  br0
    dplb, b1..b3

The far client advertises a 1440-byte MSS (its own link is 1500), so the
backends send full-sized segments. They come back directly from the
backends (DSR) and meet the narrow link at the client, whose kernel answers
each with ICMPv6 "packet too big" (MTU 1280) addressed to their source: the
VIP, routed to dplb. dplb sends it to the backend of the flow it quotes,
whose kernel lowers its path MTU; without that the download would stall
(routers never fragment IPv6, and the backends do no packetization-layer
probing: tcp_mtu_probing = 0, checked).

Proven: a 10 MB download over one connection completes, and dplb counts
the ICMPv6 errors it forwarded.

Run as root:  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_path_mtu6.py
"""

import os

import pytest

from harness.e2e_testbed import (BACKENDS6, LB_ADDR6, PREFIX_LENGTH6, VIP6, config_text,
                                 dplb_running, download_past_a_narrow_link, run,
                                 running_testbed, wait_for)

FAR_NET, FAR_ADDR, FAR_GATEWAY = "fd00:db1c::/64", "fd00:db1c::2", "fd00:db1c::1"
NARROW_MTU = 1280
DOWNLOAD = 10 << 20


@pytest.fixture(scope="module")
def testbed():
    with running_testbed(f"dplb-p{os.getpid()}-", tools=("ip", "ethtool", "curl")) as tb:
        far = tb.ns("far")
        run("ip", "netns", "add", far)
        try:
            run("ip", "link", "add", "far0", "netns", tb.ns("client"), "type", "veth",
                "peer", "name", "eth0", "netns", far)
            tb.exec("client", "ip", "link", "set", "far0", "mtu", str(NARROW_MTU), "up")
            tb.exec("client", "ip", "-6", "addr", "add", f"{FAR_GATEWAY}/64", "dev", "far0",
                    "nodad")
            tb.exec("client", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
            in_far = ("ip", "netns", "exec", far)
            run(*in_far, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0")
            run(*in_far, "ip", "link", "set", "lo", "up")
            run(*in_far, "ip", "link", "set", "eth0", "up")
            run(*in_far, "ip", "-6", "addr", "add", f"{FAR_ADDR}/64", "dev", "eth0", "nodad")
            run(*in_far, "ip", "-6", "route", "add", "default", "via", FAR_GATEWAY)
            # The backends answer the far client through the client.
            for b in BACKENDS6:
                tb.exec(b, "ip", "-6", "route", "add", FAR_NET, "via", "fd00:db1b::2")
            yield tb
        finally:
            run("ip", "netns", "del", far, check=False)


def make_config():
    text = config_text([("web6", VIP6, 80, "tcp", "ipip", {a: 1 for a in BACKENDS6.values()})])
    return text.replace("[dataplane]\n", f"[dataplane]\naddress6 = {LB_ADDR6}\n"
                        f"prefix_length6 = {PREFIX_LENGTH6}\n", 1)


def test_a_far_client_behind_a_narrow_link_downloads_over_ipv6(testbed, tmp_path):
    for b in BACKENDS6:
        res = testbed.exec(b, "sysctl", "-n", "net.ipv4.tcp_mtu_probing")
        assert res.stdout.strip() == "0", "the test needs backends that rely on ICMPv6"

    def resolved(lb):
        wait_for(lambda: lb.stats()["nd_advertisements_learned"] >= 3,
                 "dplb to resolve the three IPv6 backends by neighbor discovery")

    with dplb_running(testbed, tmp_path, make_config(), ready=resolved) as lb:
        forwarded = download_past_a_narrow_link(lb, testbed.ns("far"),
                                                f"http://[{VIP6}]/bytes/{DOWNLOAD}", DOWNLOAD)
        print(f"\n[path mtu, IPv6] {DOWNLOAD} bytes through a {NARROW_MTU}-byte link: "
              f"{forwarded} ICMPv6 packet-too-big forwarded to the backend")
