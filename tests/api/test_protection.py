"""A VIP's protection through the HTTP API: GET /vips and /vips/NAME show
its allow and deny lists and new-flow rate limit, PATCH /vips/NAME changes
them (written into the file, as every change is), a bad prefix or a rule the
loader refuses is a 400 that changes nothing, and what the lists and the
limit turned away is counted in /vips, /stats, /metrics and telemetry."""

from harness.apitest import (Traffic, client, config, dplb_at, metric, ok, parse_metrics,
                             state_of, tcp)


def test_every_vip_shows_its_protection_and_counters(tmp_path):
    with dplb_at(tmp_path) as dplb:
        web = ok(dplb, "GET", "/vips/web")
        listed = {vip["name"]: vip for vip in ok(dplb, "GET", "/vips")["vips"]}
        stats = {vip["name"]: vip for vip in ok(dplb, "GET", "/stats")["vips"]}
    for vip in (web, listed["web"], listed["dns-udp"]):
        assert vip["allow"] == [] and vip["deny"] == []
        assert vip["new_flow_rate"] == 0 and vip["new_flow_burst"] == 0
        assert vip["rate_limit_action"] == "drop"
        assert vip["acl_denied"] == 0 and vip["rate_limited"] == 0
    # /stats leaves the lists out (they may be long), not the rest.
    assert "allow" not in stats["web"] and "deny" not in stats["web"]
    assert stats["web"]["rate_limit_action"] == "drop" and stats["web"]["acl_denied"] == 0
    for backend in web["backends"]:
        assert "acl_denied" not in backend and "rate_limited" not in backend


def test_patch_changes_lists_and_limit_writes_them_and_counts_what_they_refuse(tmp_path):
    with dplb_at(tmp_path) as dplb:
        traffic = Traffic(dplb)
        # Flows 0..3 come from 172.16.0.1..4, inside 172.16.0.0/29.
        traffic.send(tcp(i) for i in range(32))
        answer = ok(dplb, "PATCH", "/vips/web", {
            "deny": ["172.16.0.0/29"], "allow": ["172.16.0.0/16", "198.51.100.7"],
            "new_flow_rate": 1000, "new_flow_burst": 50})
        assert answer == {"applied": True, "generation": 2, "changes": [{
            "change": "vip_modified", "vip": "web",
            "fields": ["allow", "deny", "new_flow_rate", "new_flow_burst"]}]}
        web = ok(dplb, "GET", "/vips/web")
        assert web["allow"] == ["172.16.0.0/16", "198.51.100.7/32"]
        assert web["deny"] == ["172.16.0.0/29"]
        assert web["new_flow_rate"] == 1000 and web["new_flow_burst"] == 50
        # The established flows of denied sources stop; the others go on.
        traffic.send(tcp(i, flags="A") for i in range(32))
        stats = ok(dplb, "GET", "/stats")
        assert stats["totals"]["drops"]["acl_denied"] == 7  # 172.16.0.1..7
        assert ok(dplb, "GET", "/vips/web")["acl_denied"] == 7
        samples = parse_metrics(dplb.http("GET", "/metrics")[2].decode())
        assert metric(samples, "dplb_vip_acl_denied_total", vip="web") == 7
        assert metric(samples, "dplb_vip_rate_limited_total", vip="web") == 0
        assert metric(samples, "dplb_drops_total", worker=0, reason="acl_denied") == 7
        assert dplb.telemetry("/dplb/vip,web")["acl_denied"] == 7
        # The lookup says whether the data path lets a source in.
        denied = ok(dplb, "GET", f"/vips/web/lookup?src={client(2)}&sport=1026")
        allowed = ok(dplb, "GET", f"/vips/web/lookup?src={client(20)}&sport=1044")
        assert denied["source_allowed"] is False and allowed["source_allowed"] is True
        # Written into the file: a reload finds nothing to change.
        text = dplb.config_path.read_text()
        assert "allow = 172.16.0.0/16 198.51.100.7/32\n" in text
        assert "deny = 172.16.0.0/29\n" in text and "new_flow_rate = 1000\n" in text
        assert ok(dplb, "POST", "/reload")["changes"] == []
        # Taking the lists away lets everyone in again; setting what is
        # there already changes nothing.
        assert ok(dplb, "PATCH", "/vips/web", {"allow": [], "deny": []})["applied"] is True
        assert "allow =" not in dplb.config_path.read_text()
        again = ok(dplb, "PATCH", "/vips/web", {"new_flow_rate": 1000})
        assert again == {"applied": False, "generation": 4, "changes": []}
        traffic.send(tcp(i, flags="A") for i in range(32))
        assert ok(dplb, "GET", "/vips/web")["acl_denied"] == 7


def test_bad_requests_change_nothing(tmp_path):
    cases = [
        ({"allow": ["10.1.2.3/8"]}, "bad prefix \"10.1.2.3/8\" in allow (bits are set past "
                                    "the prefix length (the network is 10.0.0.0/8))"),
        ({"deny": ["2001:db8::/32"]}, "[vip:web] deny holds 2001:db8::/32, and the VIP's "
                                      "address is IPv4"),
        ({"deny": ["2001:db8::1/32"]}, "bad prefix \"2001:db8::1/32\" in deny (bits are set "
                                       "past the prefix length (the network is 2001:db8::/32))"),
        ({"deny": "10.0.0.0/8"}, "deny must be an array"),
        ({"allow": [8]}, "bad prefix \"?\" in allow (expected a string)"),
        ({"allow": ["10.0.0.0/8", "10.0.0.0/8"]}, "[vip:web] lists 10.0.0.0/8 twice in allow"),
        ({"new_flow_rate": -1}, "new_flow_rate must be a whole number (0..100000000)"),
        ({"new_flow_burst": 100000001}, "new_flow_burst must be a whole number"),
        ({"rate_limit_action": "reject"}, "rate_limit_action must be \"drop\" or \"stateless\""),
        ({"new_flow_rate": 10, "allowed": []}, "unknown field \"allowed\""),
        ({}, "nothing to change"),
    ]
    with dplb_at(tmp_path) as dplb:
        before, text = state_of(dplb), dplb.config_path.read_text()
        for body, error in cases:
            status, _, answer = dplb.http("PATCH", "/vips/web", body)
            assert status == 400 and error in answer["error"], (body, status, answer)
        # A rule of the configuration: stateless needs a hashing scheduler.
        status, _, answer = dplb.http("PATCH", "/vips/dns-udp",
                                      {"new_flow_rate": 5, "rate_limit_action": "stateless"})
        assert status == 400, answer
        assert "needs scheduler maglev or source-hash, not round-robin" in answer["error"]
        status, _, answer = dplb.http("PATCH", "/vips/nowhere", {"new_flow_rate": 5})
        assert status == 404 and answer["error"] == "no VIP named \"nowhere\""
        assert state_of(dplb) == before and dplb.config_path.read_text() == text
        # A stateless limit on a Maglev VIP is fine.
        answer = ok(dplb, "PATCH", "/vips/web",
                    {"new_flow_rate": 5, "rate_limit_action": "stateless"})
        assert answer["changes"][0]["fields"] == ["new_flow_rate", "rate_limit_action"]
        assert "rate_limit_action = stateless\n" in dplb.config_path.read_text()


def test_the_limit_counts_in_every_export(tmp_path):
    text = config().replace("[vip:solo]", "[vip:solo]\nnew_flow_rate = 1\nnew_flow_burst = 4")
    with dplb_at(tmp_path, text) as dplb:
        traffic = Traffic(dplb)
        traffic.send(tcp(i, dst="10.0.0.103", dport=8443) for i in range(32))
        solo = ok(dplb, "GET", "/vips/solo")
        assert 4 <= solo["new_flows"] <= 5
        assert solo["rate_limited"] == 32 - solo["new_flows"]
        totals = ok(dplb, "GET", "/stats")["totals"]
        assert totals["drops"]["rate_limited"] == solo["rate_limited"]
        samples = parse_metrics(dplb.http("GET", "/metrics")[2].decode())
        assert metric(samples, "dplb_vip_rate_limited_total", vip="solo") == solo["rate_limited"]
        assert metric(samples, "dplb_drops_total", worker=0,
                      reason="rate_limited") == solo["rate_limited"]
        vips = dplb.telemetry("/dplb/vips")
        assert vips["rate_limited"][vips["name"].index("solo")] == solo["rate_limited"]
