"""Changing backends through the HTTP API while traffic flows: every packet
is forwarded, established flows keep their backends unless theirs was
removed or set down, and each response says exactly what changed."""

import collections
import threading

from scapy.all import IP

from harness.apitest import (WEB_BACKENDS, Traffic, backends_by_flow, config, dplb_at, flow_of,
                             inner, metric, ok, parse_metrics, tcp)

FLOWS = 320  # a multiple of the PMD's burst


def lookup(dplb, packet):
    answer = ok(dplb, "GET", f"/vips/web/lookup?src={packet[IP].src}&sport={packet.sport}")
    assert answer["exact"] is True
    return answer["backend"]


def second_half():
    """The first FLOWS flows again (established), then as many new ones."""
    return ([tcp(i, flags="A") for i in range(FLOWS)] +
            [tcp(i) for i in range(FLOWS, 2 * FLOWS)])


def check_nothing_lost(dplb, traffic):
    stats = ok(dplb, "GET", "/stats")["totals"]
    assert stats["rx_packets"] == traffic.sent
    assert stats["tx_packets"] == traffic.sent - traffic.filler
    assert stats["drops_total"] == stats["drops"]["not_for_vip"] == traffic.filler
    return stats


def split(out):
    """Backends of the first half's flows, and (flow, backend) of the rest."""
    first = backends_by_flow(out[:FLOWS])
    rest = [(flow_of(inner(o)), o[IP].dst) for o in out[FLOWS:]]
    assert len(first) == FLOWS
    return first, rest


def test_adding_a_backend_keeps_established_flows(tmp_path):
    with dplb_at(tmp_path) as dplb:
        traffic = Traffic(dplb)
        traffic.send(tcp(i) for i in range(FLOWS))
        status, headers, answer = dplb.http("POST", "/vips/web/backends",
                                            {"address": "10.0.1.4", "weight": 2})
        assert status == 201, answer
        assert headers["location"] == "/vips/web/backends/10.0.1.4"
        assert answer == {"applied": True, "generation": 2, "changes": [{
            "change": "backend_added", "vip": "web", "backend": "10.0.1.4",
            "after": {"weight": 2, "state": "up", "mac": None}}]}
        web = ok(dplb, "GET", "/vips/web")
        added = web["backends"][-1]
        assert added["address"] == "10.0.1.4" and added["weight"] == 2 and added["state"] == "up"
        assert added["next_hop_mac"] == "02:00:00:00:00:01" and added["maglev_slots"] > 0
        assert web["backends_up"] == 4

        later = second_half()
        predicted = {flow_of(p[IP]): lookup(dplb, p) for p in later[FLOWS:]}
        traffic.send(later)
        stats = check_nothing_lost(dplb, traffic)
        assert stats["flows_rescheduled"] == 0
    first, rest = split(dplb.output())
    assert len(rest) == 2 * FLOWS
    for flow, backend in rest:
        if flow in first:
            assert backend == first[flow], f"established flow {flow} moved"
        else:
            assert backend == predicted[flow]
    assert "10.0.1.4" in predicted.values()


def test_weight_and_state_changes(tmp_path):
    with dplb_at(tmp_path) as dplb:
        traffic = Traffic(dplb)
        traffic.send(tcp(i) for i in range(FLOWS))

        answer = ok(dplb, "PATCH", "/vips/web/backends/10.0.1.1", {"weight": 5})
        assert answer["generation"] == 2
        assert answer["changes"] == [{
            "change": "backend_modified", "vip": "web", "backend": "10.0.1.1",
            "fields": ["weight"], "before": {"weight": 1, "state": "up", "mac": None},
            "after": {"weight": 5, "state": "up", "mac": None}}]
        answer = ok(dplb, "PATCH", "/vips/web/backends/10.0.1.2", {"state": "drain"})
        assert answer["changes"][0]["fields"] == ["state"]
        assert answer["changes"][0]["after"]["state"] == "drain"
        # Two fields at once are one change, one new snapshot.
        answer = ok(dplb, "PATCH", "/vips/web/backends/10.0.1.3",
                    {"state": "down", "weight": 3})
        assert answer["generation"] == 4
        assert answer["changes"][0]["fields"] == ["weight", "state"]

        web = {b["address"]: b for b in ok(dplb, "GET", "/vips/web")["backends"]}
        assert web["10.0.1.1"]["weight"] == 5 and web["10.0.1.1"]["takes_new_flows"]
        assert web["10.0.1.2"]["state"] == "drain"
        assert not web["10.0.1.2"]["takes_new_flows"] and web["10.0.1.2"]["keeps_flows"]
        assert web["10.0.1.3"]["state"] == "down" and not web["10.0.1.3"]["keeps_flows"]
        assert web["10.0.1.3"]["maglev_slots"] == 0 and web["10.0.1.2"]["maglev_slots"] == 0
        samples = parse_metrics(dplb.http("GET", "/metrics")[2].decode())
        assert metric(samples, "dplb_backend_state", vip="web", backend="10.0.1.2",
                      state="drain") == 1
        assert metric(samples, "dplb_backend_weight", vip="web", backend="10.0.1.1") == 5
        assert metric(samples, "dplb_vip_backends_up", vip="web") == 1

        traffic.send(second_half())
        stats = check_nothing_lost(dplb, traffic)
    first, rest = split(dplb.output())
    moved = 0
    for flow, backend in rest:
        if flow not in first:
            assert backend == "10.0.1.1", "new flows go to the only up backend"
        elif first[flow] == "10.0.1.3":
            assert backend == "10.0.1.1", "a down backend's flows move"
            moved += 1
        else:
            assert backend == first[flow], "weight changes and drain move nothing"
    assert moved == sum(1 for b in first.values() if b == "10.0.1.3") > 0
    assert stats["flows_rescheduled"] == moved


def test_removing_a_backend_moves_only_its_flows(tmp_path):
    with dplb_at(tmp_path) as dplb:
        traffic = Traffic(dplb)
        traffic.send(tcp(i) for i in range(FLOWS))
        answer = ok(dplb, "DELETE", "/vips/web/backends/10.0.1.2")
        assert answer == {"applied": True, "generation": 2, "changes": [{
            "change": "backend_removed", "vip": "web", "backend": "10.0.1.2",
            "before": {"weight": 2, "state": "up", "mac": None}}]}
        status, _, answer = dplb.http("GET", "/vips/web/backends/10.0.1.2")
        assert status == 404 and answer["error"] == "vip web has no backend 10.0.1.2"
        assert [b["address"] for b in ok(dplb, "GET", "/vips/web")["backends"]] == [
            "10.0.1.1", "10.0.1.3"]
        traffic.send(tcp(i, flags="A") for i in range(FLOWS))
        stats = check_nothing_lost(dplb, traffic)
    first, rest = split(dplb.output())
    moved = 0
    for flow, backend in rest:
        assert backend in ("10.0.1.1", "10.0.1.3")
        if first[flow] == "10.0.1.2":
            moved += 1
        else:
            assert backend == first[flow]
    assert moved == stats["flows_rescheduled"] > 0


def test_a_change_to_the_same_values_publishes_nothing(tmp_path):
    with dplb_at(tmp_path) as dplb:
        before = ok(dplb, "GET", "/vips")
        answer = ok(dplb, "PATCH", "/vips/web/backends/10.0.1.2", {"weight": 2, "state": "up"})
        assert answer == {"applied": False, "generation": 1, "changes": []}
        assert ok(dplb, "GET", "/vips") == before
        assert ok(dplb, "GET", "/healthz")["generation"] == 1


def test_mac_can_be_pinned_and_cleared(tmp_path):
    with dplb_at(tmp_path) as dplb:
        answer = ok(dplb, "PATCH", "/vips/web/backends/10.0.1.1", {"mac": "02:00:00:00:01:01"})
        assert answer["changes"][0]["fields"] == ["mac"]
        backend = ok(dplb, "GET", "/vips/web/backends/10.0.1.1")
        assert backend["mac"] == backend["next_hop_mac"] == "02:00:00:00:01:01"
        traffic = Traffic(dplb)
        traffic.send(tcp(i) for i in range(64))
        ok(dplb, "PATCH", "/vips/web/backends/10.0.1.1", {"mac": None})
        backend = ok(dplb, "GET", "/vips/web/backends/10.0.1.1")
        assert backend["mac"] is None and backend["next_hop_mac"] == "02:00:00:00:00:01"
    to_first = [o for o in dplb.output() if o[IP].dst == "10.0.1.1"]
    assert to_first and all(o.dst == "02:00:00:00:01:01" for o in to_first)


def test_reload_through_the_api_says_what_changed(tmp_path):
    in_memory = "persist_changes = no"
    with dplb_at(tmp_path, config(management=in_memory)) as dplb:
        ok(dplb, "POST", "/vips/web/backends", {"address": "10.0.1.4"}, status=201)
        # Changes kept in memory: a reload undoes them (test_persist.py:
        # changes written into the file).
        answer = ok(dplb, "POST", "/reload")
        assert answer == {"applied": True, "generation": 3, "changes": [{
            "change": "backend_removed", "vip": "web", "backend": "10.0.1.4",
            "before": {"weight": 1, "state": "up", "mac": None}}]}
        assert dplb.stats()["reloads_ok"] == 1

        grown = config(web_backends={"10.0.1.1": 4, "10.0.1.3": 1, "10.0.1.5": 1},
                       management=in_memory)
        grown += "\n[vip:extra]\naddress = 10.0.0.200\nbackend = 10.0.5.1\n"
        grown = grown.replace("flow_table_size = 65536", "flow_table_size = 65536\ntcp_timeout = 60")
        dplb.config_path.write_text(dplb.with_listen(grown))
        answer = ok(dplb, "POST", "/reload")
        changes = [(c["change"], c.get("vip"), c.get("backend"), c.get("fields"))
                   for c in answer["changes"]]
        assert changes == [
            ("settings", None, None, ["tcp_timeout"]),
            ("backend_modified", "web", "10.0.1.1", ["weight"]),
            ("backend_added", "web", "10.0.1.5", None),
            ("backend_removed", "web", "10.0.1.2", None),
            ("vip_added", "extra", None, None),
        ]
        assert answer["generation"] == 4
        assert [v["name"] for v in ok(dplb, "GET", "/vips")["vips"]][-1] == "extra"

        # A broken file changes nothing and says where it is broken.
        dplb.config_path.write_text(dplb.with_listen(grown + "backend = 10.0.5.2 weight=0\n"))
        status, _, answer = dplb.http("POST", "/reload")
        assert status == 422
        assert "dplb.ini:" in answer["error"] and "weight 0 is out of range" in answer["error"]
        assert answer["errors"] == [answer["error"]]
        stats = dplb.stats()
        assert stats["reloads_failed"] == 1 and stats["generation"] == 4
        assert [v["name"] for v in ok(dplb, "GET", "/vips")["vips"]][-1] == "extra"


def test_changes_while_packets_are_in_flight(tmp_path):
    """Changes land between and during bursts the worker is handling; no
    change here removes a backend or sets it down, so every packet of a
    flow must reach the backend its first packet reached, and none is lost."""
    flows, rounds = 256, 12
    changes = [
        ("POST", "/vips/web/backends", {"address": "10.0.1.4", "weight": 1}),
        ("PATCH", "/vips/web/backends/10.0.1.2", {"state": "drain"}),
        ("PATCH", "/vips/web/backends/10.0.1.1", {"weight": 7}),
        ("PATCH", "/vips/web/backends/10.0.1.4", {"state": "drain"}),
        ("PATCH", "/vips/web/backends/10.0.1.2", {"state": "up", "weight": 9}),
        ("PATCH", "/vips/web/backends/10.0.1.4", {"state": "up"}),
        ("PATCH", "/vips/web/backends/10.0.1.3", {"weight": 4}),
        ("PATCH", "/vips/web/backends/10.0.1.3", {"state": "drain"}),
        ("PATCH", "/vips/web/backends/10.0.1.3", {"state": "up"}),
        ("PATCH", "/vips/web/backends/10.0.1.1", {"weight": 1}),
        ("PATCH", "/vips/web/backends/10.0.1.2", {"weight": 2}),
    ]
    with dplb_at(tmp_path) as dplb:
        traffic = Traffic(dplb)
        generations = []
        for r in range(rounds):
            # A new set of flows starts every other round, so new flows meet
            # every state the changes make.
            start = (r // 2) * flows // 2
            packets = [tcp(start + i, flags="S" if r % 2 == 0 else "A") for i in range(flows)]
            traffic.dplb.write(packets)  # not waited for: the change races it
            traffic.sent += len(packets)
            if r < len(changes):
                method, path, body = changes[r]
                status, _, answer = dplb.http(method, path, body)
                assert status in (200, 201), answer
                generations.append(answer["generation"])
        dplb.wait_received(traffic.sent)
        stats = check_nothing_lost(dplb, traffic)
        assert stats["flows_rescheduled"] == 0
        assert generations == list(range(2, 2 + len(changes)))
    per_flow = collections.defaultdict(set)
    out = dplb.output()
    assert len(out) == flows * rounds
    for o in out:
        per_flow[flow_of(inner(o))].add(o[IP].dst)
    assert all(len(backends) == 1 for backends in per_flow.values())
    assert {b for backends in per_flow.values() for b in backends} == set(WEB_BACKENDS) | {
        "10.0.1.4"}


def test_changes_from_several_clients_at_once(tmp_path):
    """Concurrent clients: each change is applied once, in some order, and
    the final state is the sum of them."""
    with dplb_at(tmp_path) as dplb:
        results, errors = [], []

        def add(n):
            try:
                status, _, answer = dplb.http("POST", "/vips/web/backends",
                                              {"address": f"10.0.7.{n}", "weight": n})
                results.append((status, answer["generation"]))
            except Exception as error:  # noqa: BLE001 (reported below)
                errors.append(error)

        threads = [threading.Thread(target=add, args=(n,)) for n in range(1, 17)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sorted(g for _, g in results) == list(range(2, 18))
        assert all(status == 201 for status, _ in results)
        web = ok(dplb, "GET", "/vips/web")
        added = {b["address"]: b["weight"] for b in web["backends"][3:]}
        assert added == {f"10.0.7.{n}": n for n in range(1, 17)}
        assert dplb.stats()["generation"] == 17
