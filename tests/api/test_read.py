"""Reading dplb through its HTTP API and DPDK telemetry while traffic flows:
every number is checked against the traffic sent and the packets that came
out, exactly."""

import collections
import shutil

import pytest
from scapy.all import IP, raw

from harness.apitest import (BURST, DNS_BACKENDS, SOLO, SOLO_BACKEND, STICKY, STICKY_BACKENDS, WEB,
                             WEB_BACKENDS, Traffic, backends_by_flow, filler, flow_of, inner,
                             metric, ok, parse_metrics, promtool_check, dplb_at, tcp,
                             telemetry_script, udp)


def mixed_traffic():
    """96 web flows (32 of them with a second packet), 32 dns flows, 32
    sticky.src packets from 16 clients, 64 for no VIP: 256 packets, four whole bursts."""
    web = [tcp(i) for i in range(96)] + [tcp(i, flags="A", payload=b"x" * 10) for i in range(32)]
    dns = [udp(100 + i) for i in range(32)]
    sticky = [tcp(200 + i % 16 + 60000 * (i // 16), dst=STICKY, dport=443) for i in range(32)]
    return web, dns, sticky, filler(64)


@pytest.fixture
def loaded(tmp_path):
    """A dplb that has handled mixed_traffic(); yields (dplb, sent parts)."""
    dplb = dplb_at(tmp_path).start()
    try:
        parts = mixed_traffic()
        Traffic(dplb).send([p for part in parts for p in part])
        yield dplb, parts
    finally:
        dplb.stop()


def test_healthz(tmp_path):
    with dplb_at(tmp_path) as dplb:
        health = ok(dplb, "GET", "/healthz")
        assert health["status"] == "ok"
        assert health["generation"] == 1
        assert health["workers"] == 1 and health["ports"] == 1 and health["vips"] == 4
        assert health["vips_without_up_backends"] == 0
        status, headers, body = dplb.http("HEAD", "/healthz")
        assert status == 200 and body == b"" and headers["content-type"] == "application/json"


def test_stats_match_the_traffic(loaded):
    dplb, (web, dns, sticky, nowhere) = loaded
    sent = web + dns + sticky + nowhere
    stats = ok(dplb, "GET", "/stats")
    forwarded = len(web) + len(dns) + len(sticky)
    flows = 96 + 32 + 32
    rx_bytes = sum(len(raw(p)) for p in sent)

    totals = stats["totals"]
    assert totals["rx_packets"] == len(sent) == 256
    assert totals["rx_bytes"] == rx_bytes
    assert totals["tx_packets"] == forwarded
    assert totals["new_flows"] == flows and totals["flows_active"] == flows
    assert totals["flow_capacity"] == 65536
    assert totals["flow_table_occupancy"] == pytest.approx(flows / 65536)
    assert totals["drops"]["not_for_vip"] == 64 and totals["drops_total"] == 64
    assert sum(totals["drops"].values()) == 64
    assert totals["flows_rescheduled"] == 0 and totals["flow_insert_failures"] == 0

    [port] = stats["ports"]
    assert port["port"] == 0
    assert port["rx_packets"] == 256 and port["rx_bytes"] == rx_bytes
    assert port["tx_packets"] == forwarded
    ethdev = port["ethdev"]
    assert ethdev["ipackets"] == 256 and ethdev["ibytes"] == rx_bytes
    assert ethdev["opackets"] == forwarded
    assert ethdev["imissed"] == 0 and ethdev["ierrors"] == 0 and ethdev["oerrors"] == 0

    [worker] = stats["workers"]
    assert worker["worker"] == 0 and worker["lcore"] == 1
    for key in ("rx_packets", "rx_bytes", "tx_packets", "new_flows", "flows_active",
                "drops_total"):
        assert worker[key] == totals[key], key
    assert worker["drops"] == totals["drops"]
    # At least one busy loop per whole burst of the PMD.
    assert worker["busy_loops"] >= 256 // BURST and worker["loops"] >= worker["busy_loops"]

    vips = {v["name"]: v for v in stats["vips"]}
    web_vip = vips["web"]
    assert web_vip["packets_in"] == web_vip["packets_out"] == 128
    assert web_vip["bytes_in"] == sum(len(raw(p[IP])) for p in web)
    # IP bytes both ways; IP-in-IP adds one 20-byte IPv4 header.
    assert web_vip["bytes_out"] == sum(len(raw(p[IP])) + 20 for p in web)
    assert web_vip["new_flows"] == web_vip["active_flows"] == 96
    assert vips["dns-udp"]["packets_in"] == vips["dns-udp"]["new_flows"] == 32
    assert vips["sticky.src"]["packets_out"] == 32 and vips["sticky.src"]["new_flows"] == 32
    assert vips["solo"]["packets_in"] == 0

    # Since the API started (dplb started with every counter at zero).
    since = stats["since_last_call"]
    assert since["rx_packets"] == since["ipackets"] == 256
    assert since["tx_packets"] == since["opackets"] == forwarded
    assert since["seconds"] > 0
    assert since["rx_packets_per_second"] == pytest.approx(256 / since["seconds"], rel=1e-6)
    assert port["since_last_call"]["rx_packets"] == 256

    # The next call counts from this one.
    traffic = Traffic(dplb)
    traffic.sent = 256
    traffic.send(filler(64))
    again = ok(dplb, "GET", "/stats")
    assert again["since_last_call"]["rx_packets"] == 64
    assert again["since_last_call"]["ipackets"] == 64
    assert again["since_last_call"]["tx_packets"] == 0
    assert again["ports"][0]["since_last_call"]["rx_bytes"] == sum(len(raw(p)) for p in filler(64))

    # What left, per backend, matches the backends' counters exactly.
    code, _, err = dplb.stop()
    assert code == 0, err
    out = dplb.output()
    assert len(out) == forwarded
    assert sum(len(raw(o)) for o in out) == ethdev["obytes"]
    by_backend = collections.Counter(o[IP].dst for o in out)
    bytes_by_backend = collections.Counter()
    flows_by_backend = collections.defaultdict(set)
    for o in out:
        bytes_by_backend[o[IP].dst] += len(raw(o[IP]))
        flows_by_backend[o[IP].dst].add(flow_of(inner(o)))
    for vip in stats["vips"]:
        for backend in vip["backends"]:
            address = backend["address"]
            assert backend["packets_out"] == by_backend[address], address
            assert backend["packets_in"] == by_backend[address], address
            assert backend["bytes_out"] == bytes_by_backend[address], address
            assert backend["new_flows"] == len(flows_by_backend[address]), address
            assert backend["active_flows"] == len(flows_by_backend[address]), address
    # Round-robin with one worker alternates.
    assert [by_backend[b] for b in DNS_BACKENDS] == [16, 16]


def test_vips_show_configuration_and_live_state(loaded):
    dplb, _ = loaded
    listing = ok(dplb, "GET", "/vips")
    assert listing["generation"] == 1
    assert [v["name"] for v in listing["vips"]] == ["web", "dns-udp", "sticky.src", "solo"]

    web = ok(dplb, "GET", "/vips/web")
    assert web["address"] == WEB and web["port"] == 80 and web["protocol"] == "tcp"
    assert web["scheduler"] == "maglev" and web["encap"] == "ipip"
    assert web["maglev_size"] == 65537 and web["health_check"] == "none"
    assert web["fragments"] == "follow"
    assert web["backend_count"] == 3 and web["backends_up"] == 3
    assert [b["address"] for b in web["backends"]] == list(WEB_BACKENDS)
    total_weight = sum(WEB_BACKENDS.values())
    for backend in web["backends"]:
        assert backend["weight"] == WEB_BACKENDS[backend["address"]]
        assert backend["state"] == "up" and backend["takes_new_flows"] and backend["keeps_flows"]
        assert backend["mac"] is None and backend["next_hop_mac"] == "02:00:00:00:00:01"
        # Weighted Maglev: floor or ceil of M * weight / total slots.
        share = 65537 * backend["weight"] / total_weight
        assert int(share) <= backend["maglev_slots"] <= int(share) + 1
    assert sum(b["maglev_slots"] for b in web["backends"]) == 65537

    dns = ok(dplb, "GET", "/vips/dns-udp")
    assert dns["scheduler"] == "round-robin" and dns["encap"] == "gue"
    assert "maglev_slots" not in dns["backends"][0]

    backends = ok(dplb, "GET", "/vips/sticky.src/backends")
    assert backends["vip"] == "sticky.src"
    assert {b["address"]: b["weight"] for b in backends["backends"]} == STICKY_BACKENDS

    one = ok(dplb, "GET", "/vips/solo/backends/" + SOLO_BACKEND)
    assert one["vip"] == "solo" and one["address"] == SOLO_BACKEND and one["packets_out"] == 0


def test_lookup_names_the_backend_new_flows_get(tmp_path):
    web = [tcp(i) for i in range(128)]
    sticky = [tcp(300 + i, dst=STICKY, dport=443) for i in range(64)]
    with dplb_at(tmp_path) as dplb:
        Traffic(dplb).send(web + sticky)
        answers = {}
        for p in web + sticky:
            vip = "web" if p[IP].dst == WEB else "sticky.src"
            answer = ok(dplb, "GET", f"/vips/{vip}/lookup?src={p[IP].src}&sport={p.sport}")
            assert answer["exact"] is True
            assert answer["flow"] == {"src": p[IP].src, "sport": p.sport, "dst": p[IP].dst,
                                      "dport": p.dport, "protocol": "tcp"}
            answers[flow_of(p[IP])] = answer["backend"]
        rr = ok(dplb, "GET", "/vips/dns-udp/lookup?src=172.16.0.1&sport=5000")
        assert rr["exact"] is False and rr["backend"] is None
        assert sorted(rr["candidates"]) == DNS_BACKENDS and "worker state" in rr["note"]
        explicit = ok(dplb, "GET", "/vips/web/lookup?src=172.16.0.1&sport=1024&dport=80")
        assert explicit["backend"] == answers[("172.16.0.1", WEB, 1024, 80)]
    seen = backends_by_flow(dplb.output())
    assert len(seen) == len(answers) == 192
    assert seen == answers
    # Source hash: one client, one backend, whatever its source port.
    by_client = collections.defaultdict(set)
    for (src, dst, _, _), backend in seen.items():
        if dst == STICKY:
            by_client[src].add(backend)
    assert all(len(b) == 1 for b in by_client.values())
    assert set().union(*by_client.values()) <= set(STICKY_BACKENDS)


@pytest.mark.parametrize("query, status, words", [
    ("", 400, "src="),
    ("src=172.16.0.1", 400, "sport"),
    ("src=172.16.0.300&sport=1", 400, "bad src"),
    ("src=0.0.0.0&sport=1", 400, "0.0.0.0"),
    ("src=172.16.0.1&sport=65536", 400, "sport"),
    ("src=172.16.0.1&sport=-1", 400, "sport"),
    ("src=172.16.0.1&sport=1&dport=81", 400, "port 80 only"),
    ("src=172.16.0.1&sport=1&dport=x", 400, "bad dport"),
    ("src=172.16.0.1&sprot=1", 400, "unknown query parameter \"sprot\""),
])
def test_lookup_refuses_bad_queries(tmp_path, query, status, words):
    with dplb_at(tmp_path) as dplb:
        code, headers, answer = dplb.http("GET", "/vips/web/lookup?" + query)
        assert code == status and words in answer["error"], answer
        code, _, answer = dplb.http("GET", "/vips/nope/lookup?src=172.16.0.1&sport=1")
        assert code == 404 and answer["error"] == "no VIP named \"nope\""


def test_metrics_pass_promtool_and_match_the_traffic(loaded):
    dplb, (web, dns, sticky, nowhere) = loaded
    assert shutil.which("promtool"), "promtool missing: scripts/setup installs it (prometheus)"
    status, headers, text = dplb.http("GET", "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = text.decode()
    code, output = promtool_check(text)
    assert code == 0 and output.strip() == "", output

    samples = parse_metrics(text)
    stats = ok(dplb, "GET", "/stats")
    assert metric(samples, "dplb_port_rx_packets_total", port=0, worker=0) == 256
    assert metric(samples, "dplb_port_tx_packets_total", port=0, worker=0) == 192
    assert metric(samples, "dplb_ethdev_ipackets_total", port=0) == 256
    assert metric(samples, "dplb_ethdev_imissed_total", port=0) == 0
    assert metric(samples, "dplb_worker_new_flows_total", worker=0) == 160
    assert metric(samples, "dplb_worker_flows_active", worker=0) == 160
    assert metric(samples, "dplb_worker_flow_capacity", worker=0) == 65536
    assert metric(samples, "dplb_state_generation") == 1
    assert metric(samples, "dplb_vip_packets_in_total", vip="web") == 128
    assert metric(samples, "dplb_vip_active_flows", vip="dns-udp") == 32
    assert metric(samples, "dplb_vip_backends_up", vip="sticky.src") == 2
    # Every drop reason, under the names /stats uses (one X-macro list).
    reasons = {dict(labels)["reason"]: value for (name, labels), value in samples.items()
               if name == "dplb_drops_total"}
    assert set(reasons) == set(stats["totals"]["drops"])
    assert reasons == {k: float(v) for k, v in stats["totals"]["drops"].items()}
    assert reasons["not_for_vip"] == 64
    # Per backend, as /stats says.
    for vip in stats["vips"]:
        for backend in vip["backends"]:
            labels = {"vip": vip["name"], "backend": backend["address"]}
            for key in ("packets_in", "bytes_in", "packets_out", "bytes_out", "new_flows"):
                assert metric(samples, f"dplb_backend_{key}_total", **labels) == backend[key]
            assert metric(samples, "dplb_backend_active_flows", **labels) == backend["active_flows"]
            assert metric(samples, "dplb_backend_weight", **labels) == backend["weight"]
            for state in ("up", "drain", "down"):
                assert metric(samples, "dplb_backend_state", state=state, **labels) == (
                    1 if state == backend["state"] else 0)


def test_telemetry_shows_the_same_counters(loaded):
    dplb, _ = loaded
    stats = ok(dplb, "GET", "/stats")
    web = ok(dplb, "GET", "/vips/web")

    assert dplb.telemetry("/dplb/stats")["rx_packets"] == 256
    assert dplb.telemetry("/dplb/drops") == stats["totals"]["drops"]
    workers = dplb.telemetry("/dplb/workers")
    assert workers["0"]["rx_packets"] == 256 and workers["0"]["new_flows"] == 160
    assert workers["0"]["drops_total"] == 64
    worker = dplb.telemetry("/dplb/worker,0")
    assert worker["drops"] == stats["totals"]["drops"]
    assert worker["flows_active"] == 160 and worker["lcore"] == 1
    port = dplb.telemetry("/dplb/ports")["0"]
    assert port["rx_packets"] == port["ipackets"] == 256 and port["opackets"] == 192

    # Lists come as columns, one per field, in configuration order.
    vips = dplb.telemetry("/dplb/vips")
    assert vips["name"] == ["web", "dns-udp", "sticky.src", "solo"]
    assert vips["packets_in"] == [v["packets_in"] for v in stats["vips"]] == [128, 32, 32, 0]
    assert vips["backends_up"] == [3, 2, 2, 1]
    vip = dplb.telemetry("/dplb/vip,dns-udp")
    assert vip["name"] == "dns-udp" and vip["protocol"] == "udp" and vip["new_flows"] == 32
    assert vip["backends"] == DNS_BACKENDS
    backends = dplb.telemetry("/dplb/backends,web")
    assert backends["address"] == list(WEB_BACKENDS)
    for key in ("state", "weight", "packets_out", "bytes_out", "new_flows", "active_flows"):
        assert backends[key] == [b[key] for b in web["backends"]], key
    assert dplb.telemetry("/dplb/vip,nope") is None
    assert dplb.telemetry("/dplb/worker,7") is None

    # And dpdk-telemetry.py, the operator's tool, shows them too.
    assert telemetry_script(dplb.prefix, "/dplb/vip,sticky.src")["packets_out"] == 32
    assert telemetry_script(dplb.prefix, "/dplb/backends,solo")["address"] == [SOLO_BACKEND]


def test_head_and_trailing_slashes(tmp_path):
    with dplb_at(tmp_path) as dplb:
        assert ok(dplb, "GET", "/vips/")["vips"][0]["name"] == "web"
        assert ok(dplb, "GET", "/vips/solo/")["address"] == SOLO
        status, _, body = dplb.http("HEAD", "/stats")
        assert status == 200 and body == b""
