"""Every counter of the lists in lib/packet/counters.h reaches every export:
GET /stats, GET /metrics, DPDK telemetry and the exit summary, each as its
kind says. The names and kinds are read from the C source, not restated
here, so a counter added to a list that some export misses fails this."""

import collections
import re
from pathlib import Path

from harness.apitest import DNS, Traffic, dplb_at, ok, parse_metrics, tcp, udp

COUNTERS_H = Path(__file__).resolve().parents[2] / "lib" / "packet" / "counters.h"
KINDS = {"DPLB_COUNTER", "DPLB_GAUGE", "DPLB_PER_WORKER"}


def x_macro(name):
    """The entries of `#define name(X)` in counters.h: (first, second)
    argument of each X(...)."""
    text = COUNTERS_H.read_text()
    match = re.search(rf"^#define {name}\(X\)((?:.*\\\n)*.*)$", text, re.M)
    assert match, f"no {name} in {COUNTERS_H}"
    entries = re.findall(r"\bX\(\s*(\w+),\s*(\w+|\"[^\"]*\")", match.group(1))
    assert entries, f"no entries in {name}"
    return entries


def counter_list(name):
    """{field: kind} of a counter list."""
    entries = dict(x_macro(name))
    assert set(entries.values()) <= KINDS, entries
    return entries


WORKER = counter_list("DPLB_WORKER_COUNTERS")
PORT = counter_list("DPLB_PORT_COUNTERS")
TRAFFIC = counter_list("DPLB_TRAFFIC_COUNTERS")
VIP_PROTECTION = counter_list("DPLB_VIP_PROTECTION_COUNTERS")
EXCEPTION = counter_list("DPLB_EXCEPTION_COUNTERS")
ANNOUNCE = counter_list("DPLB_ANNOUNCE_COUNTERS")
DROPS = [label.strip('"') for _, label in x_macro("DPLB_DROP_REASONS")]
IN_TOTALS = [f for f, kind in WORKER.items() if kind != "DPLB_PER_WORKER"]


def test_the_lists_are_read_from_the_source():
    assert {"new_flows", "icmp_frag_needed_sent", "loops", "flows_active"} <= WORKER.keys()
    assert WORKER["flows_active"] == "DPLB_GAUGE" and WORKER["loops"] == "DPLB_PER_WORKER"
    assert {"rx_packets", "tx_bytes"} <= PORT.keys()
    assert {"packets_out", "active_flows"} <= TRAFFIC.keys()
    assert {"acl_denied", "rate_limited"} <= VIP_PROTECTION.keys()
    assert {"exception_to_tap", "exception_from_kernel"} <= EXCEPTION.keys()
    assert {"announce_routes_added", "announce_failures"} <= ANNOUNCE.keys()
    assert "exception_to_kernel" in WORKER and "exception_busy" in DROPS
    assert "tx_full" in DROPS and "not_for_vip" in DROPS


class Missing:
    """What an export lacks, gathered so that one failure lists it all."""

    def __init__(self):
        self.items = []

    def keys(self, where, have, names):
        self.items += [f"{where}: {n}" for n in names if n not in have]

    def absent(self, where, have, names):
        self.items += [f"{where}: {n} should not be there" for n in names if n in have]


def check_stats(stats, missing):
    totals = stats["totals"]
    missing.keys("/stats totals", totals, IN_TOTALS + list(PORT))
    missing.absent("/stats totals", totals, [f for f in WORKER if f not in IN_TOTALS])
    missing.keys("/stats totals.drops", totals["drops"], DROPS)
    for port in stats["ports"]:
        missing.keys("/stats ports[]", port, PORT)
        missing.keys("/stats ports[].since_last_call", port["since_last_call"], PORT)
    missing.keys("/stats since_last_call", stats["since_last_call"], PORT)
    missing.keys("/stats exception_path", stats["exception_path"], EXCEPTION)
    missing.keys("/stats announce", stats["announce"], ANNOUNCE)
    for worker in stats["workers"]:
        missing.keys("/stats workers[]", worker, list(WORKER) + list(PORT))
        missing.keys("/stats workers[].drops", worker["drops"], DROPS)
        for port in worker["ports"]:
            missing.keys("/stats workers[].ports[]", port, PORT)
    for vip in stats["vips"]:
        missing.keys(f"/stats vip {vip['name']}", vip, list(TRAFFIC) + list(VIP_PROTECTION))
        for backend in vip["backends"]:
            missing.keys(f"/stats backend {backend['address']}", backend, TRAFFIC)
            missing.absent(f"/stats backend {backend['address']}", backend, VIP_PROTECTION)


def prometheus_name(scope, field, kind):
    prefix = f"dplb_{scope}_" if scope else "dplb_"
    return f"{prefix}{field}" + ("" if kind == "DPLB_GAUGE" else "_total")


def check_metrics(text, missing):
    samples = parse_metrics(text)
    labels = collections.defaultdict(set)
    for name, pairs in samples:
        labels[name].add(pairs)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    families = [("worker", WORKER), ("port", PORT), ("vip", TRAFFIC), ("backend", TRAFFIC),
                ("vip", VIP_PROTECTION), ("", EXCEPTION), ("", ANNOUNCE)]
    for scope, fields in families:
        for field, kind in fields.items():
            name = prometheus_name(scope, field, kind)
            if name not in labels:
                missing.items.append(f"/metrics: {name}")
            elif types.get(name) != ("gauge" if kind == "DPLB_GAUGE" else "counter"):
                missing.items.append(f"/metrics: {name} has TYPE {types.get(name)}")
    reasons = {dict(pairs).get("reason") for pairs in labels["dplb_drops_total"]}
    missing.keys("/metrics dplb_drops_total{reason}", reasons, DROPS)


def check_telemetry(telemetry, missing):
    missing.keys("/dplb/stats", telemetry["/dplb/stats"],
                 IN_TOTALS + list(PORT) + list(EXCEPTION) + list(ANNOUNCE))
    missing.keys("/dplb/drops", telemetry["/dplb/drops"], DROPS)
    for name, worker in telemetry["/dplb/workers"].items():
        missing.keys(f"/dplb/workers {name}", worker, list(WORKER) + list(PORT))
    worker = telemetry["/dplb/worker,0"]
    missing.keys("/dplb/worker,0", worker, list(WORKER) + list(PORT))
    missing.keys("/dplb/worker,0 drops", worker["drops"], DROPS)
    for name, port in telemetry["/dplb/ports"].items():
        missing.keys(f"/dplb/ports {name}", port, PORT)
    missing.keys("/dplb/vips", telemetry["/dplb/vips"], list(TRAFFIC) + list(VIP_PROTECTION))
    missing.keys("/dplb/vip,web", telemetry["/dplb/vip,web"],
                 list(TRAFFIC) + list(VIP_PROTECTION))
    missing.keys("/dplb/backends,web", telemetry["/dplb/backends,web"], TRAFFIC)


def check_summary(summary, stats, missing):
    """Each counter as "name value", once per row of its family: totals and
    drops once, per-worker counters once per worker, port counters once
    per port, traffic counters once per VIP and per backend."""
    vips = len(stats["vips"])
    backends = sum(len(vip["backends"]) for vip in stats["vips"])
    expected = collections.Counter()
    for field, kind in WORKER.items():
        expected[field] += len(stats["workers"]) if kind == "DPLB_PER_WORKER" else 1
    for field in PORT:
        expected[field] += len(stats["ports"])
    for field in TRAFFIC:
        expected[field] += vips + backends
    for field in VIP_PROTECTION:
        expected[field] += vips
    for reason in DROPS:
        expected[reason] += 1
    for field in list(EXCEPTION) + list(ANNOUNCE):
        expected[field] += 1
    for name, count in expected.items():
        found = len(re.findall(rf"(?<![\w.]){re.escape(name)} \d+", summary))
        if found != count:
            missing.items.append(f"exit summary: {name} {found} times, not {count}")


def test_every_counter_reaches_every_export(tmp_path):
    dplb = dplb_at(tmp_path).start()
    try:
        Traffic(dplb).send([tcp(i) for i in range(32)] + [udp(i, dst=DNS) for i in range(16)])
        stats = ok(dplb, "GET", "/stats")
        status, _, body = dplb.http("GET", "/metrics")
        assert status == 200
        telemetry = {command: dplb.telemetry(command)
                     for command in ("/dplb/stats", "/dplb/drops", "/dplb/workers",
                                     "/dplb/worker,0", "/dplb/ports", "/dplb/vips",
                                     "/dplb/vip,web", "/dplb/backends,web")}
    finally:
        code, summary, err = dplb.stop()
    assert code == 0, err

    missing = Missing()
    check_stats(stats, missing)
    check_metrics(body.decode(), missing)
    check_telemetry(telemetry, missing)
    check_summary(summary, stats, missing)
    assert not missing.items, "\n".join(missing.items) + "\n" + summary
