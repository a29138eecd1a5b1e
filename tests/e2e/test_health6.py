"""End-to-end: dplb's health checks of IPv6 backends (scripts/testbed's
fd00:db1b::11..13), through the kernel's leg in dplb's namespace (mgmt0,
fd00:db1b::9: health_source is IPv4, so IPv6 checks leave from the
address the kernel's routes choose). Nothing here needs dplb to forward
IPv6: only its checks and what /vips says of them.

What is proven here:
- HTTP checks over IPv6 find a backend healthy, and unhealthy while its
  /health says 503, and healthy again after;
- tcp checks by SYN (health_tcp = syn, the default) over IPv6 find a
  listening backend healthy and a stopped one unhealthy (its kernel
  resets), and healthy again once it is started.


Run as root:  DPLB_BUILD=build /usr/bin/python3 -m pytest -q tests/e2e/test_health6.py
"""

import json
import os

import pytest

from harness.e2e_testbed import (BACKENDS6, DPLB, LB_ADDR, LB_ADDR6, api_get, dplb_running,
                                 run, running_testbed, wait_for)

B1, B2 = BACKENDS6["b1"], BACKENDS6["b2"]
WEB_VIP, TCP_VIP = "198.18.1.86", "198.18.1.87"


def health6_config():
    return "\n".join([
        "[dataplane]", "ports = 0", f"address = {LB_ADDR}", "prefix_length = 24",
        f"address6 = {LB_ADDR6}", "flow_table_size = 65536", "",
        "[management]", "listen = 127.0.0.1:8080", "",
        "[vip:web6]", f"address = {WEB_VIP}", "port = 80", "protocol = tcp",
        "health_check = http:/health", "health_interval_ms = 200", "health_rise = 2",
        "health_fall = 3", f"backend = {B1}", "",
        "[vip:tcp6]", f"address = {TCP_VIP}", "port = 80", "protocol = tcp",
        "health_check = tcp", "health_interval_ms = 200", "health_rise = 2",
        "health_fall = 3", f"backend = {B2}", "",
    ])


@pytest.fixture(scope="module")
def config_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("health6") / "health6.ini"
    path.write_text(health6_config())
    check = run(DPLB, "--check-config", path, check=False)
    assert check.returncode == 0, check.stderr
    return path


@pytest.fixture(scope="module")
def testbed(config_path):
    with running_testbed(f"dplb-k{os.getpid()}-") as tb:
        yield tb


def backend_health(testbed, vip, address):
    body = api_get(testbed, f"/vips/{vip}")
    for b in body["backends"]:
        if b["address"] == address:
            return b["health"]
    raise AssertionError(f"no backend {address} in {vip}: {body}")


def wait_status(testbed, vip, address, status):
    return wait_for(lambda: (h := backend_health(testbed, vip, address))["status"] == status
                    and h, f"{vip} backend {address} to be {status}", timeout=30)


def test_ipv6_backends_are_checked_over_ipv6(testbed, config_path, tmp_path):
    try:
        with dplb_running(testbed, tmp_path, config_path.read_text()):
            wait_status(testbed, "web6", B1, "healthy")
            wait_status(testbed, "tcp6", B2, "healthy")

            testbed.script("server", "b1", "sick")
            health = wait_status(testbed, "web6", B1, "unhealthy")
            assert "503" in json.dumps(health), health
            testbed.script("server", "b1", "well")
            wait_status(testbed, "web6", B1, "healthy")

            testbed.script("server", "b2", "stop")
            health = wait_status(testbed, "tcp6", B2, "unhealthy")
            assert "refused" in json.dumps(health), health
            testbed.script("server", "b2", "start")
            wait_status(testbed, "tcp6", B2, "healthy")
    finally:
        testbed.script("server", "b1", "well")
        testbed.script("server", "b2", "start")
