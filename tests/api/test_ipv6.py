"""IPv6 VIPs and backends through the HTTP API, in any mix with IPv4 ones:
/vips, /vips/NAME and its backends show either family, IPv6 backends are
added, changed and removed by their address (written however the client
writes it), changes are written into the file, Prometheus labels carry
IPv6 addresses, an IPv6 VIP's allow and deny lists are of IPv6 prefixes,
and what the configuration's rules refuse is refused.
Nothing is forwarded over IPv6 yet: these tests read and change state."""

from harness.apitest import dplb_at, ok, parse_metrics, metric, promtool_check

GATEWAY_MAC = "02:00:00:00:00:01"
GATEWAY_MAC6 = "02:00:00:00:00:06"

TEXT = f"""[dataplane]
ports = 0
address = 10.0.0.10
gateway_mac = {GATEWAY_MAC}
address6 = 2001:db8::10
prefix_length6 = 64
gateway6 = fe80::1
gateway_mac6 = {GATEWAY_MAC6}
flow_table_size = 65536

[management]

[vip:web6]
address = 2001:db8:ff::80
port = 80
backend = 2001:db8:1::21 weight=2   ; behind gateway6
backend = 10.0.1.1
backend = 2001:db8::22 mac=02:00:00:00:00:22

[vip:web]
address = 10.0.0.100
port = 80
backend = 10.0.1.1
backend = 2001:db8:1::21
"""


def by_address(vip):
    return {b["address"]: b for b in vip["backends"]}


def test_an_ipv6_vip_and_its_backends_of_both_families_are_shown(tmp_path):
    with dplb_at(tmp_path, TEXT) as dplb:
        vips = {v["name"]: v for v in ok(dplb, "GET", "/vips")["vips"]}
        web6 = vips["web6"]
        assert web6["address"] == "2001:db8:ff::80" and web6["port"] == 80
        assert web6["fragments"] == "follow"  # the default on either family
        assert vips["web"]["address"] == "10.0.0.100" and vips["web"]["fragments"] == "follow"
        backends = by_address(web6)
        assert list(backends) == ["2001:db8:1::21", "10.0.1.1", "2001:db8::22"]
        assert backends["2001:db8:1::21"]["weight"] == 2
        # Next hops: gateway_mac6 for the one behind gateway6, its own mac=
        # for the other, gateway_mac for the IPv4 one.
        assert backends["2001:db8:1::21"]["next_hop_mac"] == GATEWAY_MAC6
        assert backends["2001:db8::22"]["next_hop_mac"] == "02:00:00:00:00:22"
        assert backends["10.0.1.1"]["next_hop_mac"] == GATEWAY_MAC
        assert web6["backends_up"] == 3
        # Every backend has its share of the Maglev table.
        assert all(b["maglev_slots"] > 0 for b in ok(dplb, "GET", "/vips/web6")["backends"])
        assert by_address(vips["web"])["2001:db8:1::21"]["next_hop_mac"] == GATEWAY_MAC6

        one = ok(dplb, "GET", "/vips/web6/backends/2001:db8:1::21")
        assert one["address"] == "2001:db8:1::21" and one["weight"] == 2
        # However the client writes the address.
        assert ok(dplb, "GET", "/vips/web6/backends/2001:DB8:1:0:0::21") == one
        ok(dplb, "GET", "/vips/web6/backends/2001:db8:1::99", status=404)
        answer = ok(dplb, "GET", "/vips/web6/backends/2001:db8::g", status=400)
        assert "bad backend address" in answer["error"]


def test_ipv6_backends_added_changed_and_removed(tmp_path):
    with dplb_at(tmp_path, TEXT) as dplb:
        status, headers, answer = dplb.http("POST", "/vips/web6/backends",
                                            {"address": "2001:DB8::0:23", "weight": 3})
        assert status == 201, answer
        assert headers["location"] == "/vips/web6/backends/2001:db8::23"
        assert answer == {"applied": True, "generation": 2, "changes": [{
            "change": "backend_added", "vip": "web6", "backend": "2001:db8::23",
            "after": {"weight": 3, "state": "up", "mac": None}}]}
        # An IPv4 backend on the IPv6 VIP, an IPv6 one on the IPv4 VIP.
        ok(dplb, "POST", "/vips/web6/backends", {"address": "10.0.1.2"}, status=201)
        ok(dplb, "POST", "/vips/web/backends", {"address": "2001:db8::24"}, status=201)
        # Already there, in another form: a conflict.
        answer = ok(dplb, "POST", "/vips/web6/backends", {"address": "2001:db8:0::23"},
                    status=409)
        assert "has backend 2001:db8::23 already" in answer["error"]
        backends = by_address(ok(dplb, "GET", "/vips/web6"))
        assert backends["2001:db8::23"]["weight"] == 3
        assert backends["2001:db8::23"]["next_hop_mac"] is None  # on-link: ND's, not yet
        assert "10.0.1.2" in backends
        assert "2001:db8::24" in by_address(ok(dplb, "GET", "/vips/web"))

        answer = ok(dplb, "PATCH", "/vips/web6/backends/2001:db8::23",
                    {"weight": 5, "state": "drain"})
        assert answer["changes"] == [{
            "change": "backend_modified", "vip": "web6", "backend": "2001:db8::23",
            "fields": ["weight", "state"],
            "before": {"weight": 3, "state": "up", "mac": None},
            "after": {"weight": 5, "state": "drain", "mac": None}}]
        answer = ok(dplb, "DELETE", "/vips/web6/backends/2001:db8:1:0::21")
        assert answer["changes"] == [{
            "change": "backend_removed", "vip": "web6", "backend": "2001:db8:1::21",
            "before": {"weight": 2, "state": "up", "mac": None}}]
        ok(dplb, "DELETE", "/vips/web6/backends/2001:db8:1::21", status=404)
        backends = by_address(ok(dplb, "GET", "/vips/web6"))
        assert list(backends) == ["10.0.1.1", "2001:db8::22", "2001:db8::23", "10.0.1.2"]
        assert backends["2001:db8::23"]["state"] == "drain"

        # Written into the file, where a reload finds no difference.
        text = dplb.config_path.read_text()
        assert "backend = 2001:db8:1::21 weight=2" not in text
        assert "backend = 2001:db8::23 weight=5 state=drain\n" in text
        assert "backend = 2001:db8::24\n" in text
        assert ok(dplb, "POST", "/reload")["changes"] == []


def test_prometheus_labels_carry_ipv6_addresses(tmp_path):
    with dplb_at(tmp_path, TEXT) as dplb:
        status, _, body = dplb.http("GET", "/metrics")
        assert status == 200
        text = body.decode()
        samples = parse_metrics(text)
        assert metric(samples, "dplb_backend_weight", vip="web6", backend="2001:db8:1::21") == 2
        assert metric(samples, "dplb_backend_weight", vip="web", backend="2001:db8:1::21") == 1
        assert metric(samples, "dplb_backend_weight", vip="web6", backend="10.0.1.1") == 1
        code, output = promtool_check(text)
        assert code == 0, output


def test_what_the_rules_refuse_is_refused(tmp_path):
    text = TEXT.replace("address6 = 2001:db8::10\n", "").replace(
        "prefix_length6 = 64\ngateway6 = fe80::1\n", "").replace(
        "backend = 2001:db8:1::21 weight=2   ; behind gateway6\n", "").replace(
        "backend = 2001:db8::22 mac=02:00:00:00:00:22\n", "").replace(
        "backend = 2001:db8:1::21\n", "")
    with dplb_at(tmp_path, text) as dplb:
        # No address6 to send from: an IPv6 backend cannot be added.
        answer = ok(dplb, "POST", "/vips/web6/backends", {"address": "2001:db8::23"},
                    status=400)
        assert "2001:db8::23 is IPv6, and [dataplane] has no address6" in answer["error"]
        answer = ok(dplb, "POST", "/vips/web6/backends", {"address": "ff02::1"}, status=400)
        assert "ff02::1 is a multicast address" in answer["error"]
        answer = ok(dplb, "POST", "/vips/web6/backends", {"address": "::"}, status=400)
        assert "bad address (:: is not a usable address)" in answer["error"]
        # A VIP's lists are of its family, as its clients are.
        answer = ok(dplb, "PATCH", "/vips/web6", {"deny": ["10.9.0.0/16"]}, status=400)
        assert "[vip:web6] deny holds 10.9.0.0/16, and the VIP's address is IPv6" in \
            answer["error"]
        answer = ok(dplb, "PATCH", "/vips/web", {"allow": ["2001:db8::/32"]}, status=400)
        assert "[vip:web] allow holds 2001:db8::/32, and the VIP's address is IPv4" in \
            answer["error"]
        ok(dplb, "PATCH", "/vips/web", {"deny": ["10.9.0.0/16"]})
        assert ok(dplb, "GET", "/vips/web6/backends/10.0.1.1")["address"] == "10.0.1.1"


def test_an_ipv6_vip_takes_ipv6_lists_and_the_lookup_decides_by_them(tmp_path):
    text = TEXT.replace("[vip:web6]\n", "[vip:web6]\nallow = 2001:db8:c::/48\n")
    with dplb_at(tmp_path, text) as dplb:
        assert ok(dplb, "GET", "/vips/web6")["allow"] == ["2001:db8:c::/48"]
        answer = ok(dplb, "PATCH", "/vips/web6",
                    {"allow": ["2001:db8:c::/48", "fd00::/8"], "deny": ["2001:db8:c:bad::/64"]})
        assert answer["changes"][0]["fields"] == ["allow", "deny"]
        web6 = ok(dplb, "GET", "/vips/web6")
        assert web6["allow"] == ["2001:db8:c::/48", "fd00::/8"]
        assert web6["deny"] == ["2001:db8:c:bad::/64"]
        assert "allow = 2001:db8:c::/48 fd00::/8\n" in dplb.config_path.read_text()
        assert "deny = 2001:db8:c:bad::/64\n" in dplb.config_path.read_text()
        assert ok(dplb, "POST", "/reload")["changes"] == []

        def allowed(src):
            return ok(dplb, "GET", f"/vips/web6/lookup?src={src}&sport=1024")["source_allowed"]

        assert allowed("2001:db8:c::1") is True
        assert allowed("fd12::1") is True
        assert allowed("2001:db8:c:bad::1") is False
        assert allowed("2001:db8:d::1") is False
        # An IPv4 VIP's lookup is not touched by the IPv6 VIP's lists.
        assert ok(dplb, "GET", "/vips/web/lookup?src=172.16.0.1&sport=1")["source_allowed"]
        # Without lists, every source again.
        ok(dplb, "PATCH", "/vips/web6", {"allow": [], "deny": []})
        assert allowed("2001:db8:d::1") is True


def test_telemetry_and_the_exit_summary_show_either_family(tmp_path):
    with dplb_at(tmp_path, TEXT) as dplb:
        vips = dplb.telemetry("/dplb/vips")
        assert vips["address"][vips["name"].index("web6")] == "2001:db8:ff::80"
        vip = dplb.telemetry("/dplb/vip,web6")
        assert vip["address"] == "2001:db8:ff::80"
        assert vip["backends"] == ["2001:db8:1::21", "10.0.1.1", "2001:db8::22"]
        backends = dplb.telemetry("/dplb/backends,web")
        assert backends["address"] == ["10.0.1.1", "2001:db8:1::21"]
    assert "    backend 2001:db8::22 (up, unchecked, weight 1): " in dplb.stdout + dplb.stderr
