"""Every kind of bad request gets the right 4xx with a JSON error, and
changes nothing: the configuration and live state of every VIP and
backend, and the state generation, are the same after it as before."""

import pytest

from harness.apitest import LOCAL, WEB, Traffic, dplb_at, ok, state_of, tcp

WEB_BACKENDS_PATH = "/vips/web/backends"
ONE = "/vips/web/backends/10.0.1.1"

# (id, method, path, body, status, words in the error, Allow header)
BAD = [
    ("malformed-json", "POST", WEB_BACKENDS_PATH, '{"address": "10.0.1.9",', 400,
     "malformed JSON", None),
    ("trailing-garbage", "POST", WEB_BACKENDS_PATH, '{"address": "10.0.1.9"} x', 400,
     "malformed JSON", None),
    ("not-an-object", "POST", WEB_BACKENDS_PATH, '["10.0.1.9"]', 400, "a JSON object", None),
    ("empty-body", "POST", WEB_BACKENDS_PATH, None, 400, "needs a JSON object body", None),
    ("duplicate-key", "POST", WEB_BACKENDS_PATH,
     '{"address": "10.0.1.9", "address": "10.0.1.8"}', 400, "duplicate object key", None),
    ("unknown-field", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.9", "wieght": 2}, 400,
     'unknown field "wieght"', None),
    ("missing-address", "POST", WEB_BACKENDS_PATH, {"weight": 2}, 400, "address is required",
     None),
    ("bad-address", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.300"}, 400,
     "bad address (expected an IPv4 address such as 10.0.0.1 or an IPv6", None),
    ("zero-address", "POST", WEB_BACKENDS_PATH, {"address": "0.0.0.0"}, 400,
     "0.0.0.0 is not a usable address", None),
    ("loopback-backend", "POST", WEB_BACKENDS_PATH, {"address": "127.0.0.1"}, 400,
     "127.0.0.1 is a loopback address, not a backend", None),
    ("multicast-backend", "POST", WEB_BACKENDS_PATH, {"address": "239.1.2.3"}, 400,
     "239.1.2.3 is a multicast address, not a backend", None),
    ("broadcast-backend", "POST", WEB_BACKENDS_PATH, {"address": "255.255.255.255"}, 400,
     "255.255.255.255 is the broadcast address, not a backend", None),
    ("vip-as-backend", "POST", WEB_BACKENDS_PATH, {"address": WEB}, 400,
     f"{WEB} is the VIP's own address", None),
    ("dplb-as-backend", "POST", WEB_BACKENDS_PATH, {"address": LOCAL}, 400,
     f"{LOCAL} is dplb's own address", None),
    ("address-number", "POST", WEB_BACKENDS_PATH, {"address": 167772161}, 400,
     "bad address (expected a string)", None),
    ("existing-backend", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.1"}, 409,
     "vip web has backend 10.0.1.1 already", None),
    ("weight-zero", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.9", "weight": 0}, 400,
     "backend in [vip:web]: weight 0 is out of range (1..65535)", None),
    ("weight-too-big", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.9", "weight": 65536}, 400,
     "weight 65536 is out of range (1..65535)", None),
    ("weight-negative", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.9", "weight": -1}, 400,
     "weight must be a whole number", None),
    ("weight-string", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.9", "weight": "2"}, 400,
     "weight must be a whole number", None),
    ("weight-fraction", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.9", "weight": 1.5},
     400, "weight must be a whole number", None),
    ("weight-huge", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.9", "weight": 2 ** 40},
     400, "weight must be a whole number", None),
    ("bad-state", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.9", "state": "maybe"}, 400,
     'state must be "up", "drain" or "down"', None),
    ("bad-mac", "POST", WEB_BACKENDS_PATH, {"address": "10.0.1.9", "mac": "02:00:00:00:00"},
     400, "bad mac (expected xx:xx:xx:xx:xx:xx)", None),
    ("multicast-mac", "POST", WEB_BACKENDS_PATH,
     {"address": "10.0.1.9", "mac": "01:00:5e:00:00:01"}, 400, "multicast", None),
    ("unknown-vip-add", "POST", "/vips/nope/backends", {"address": "10.0.1.9"}, 404,
     'no VIP named "nope"', None),
    ("unknown-vip-patch", "PATCH", "/vips/nope/backends/10.0.1.1", {"weight": 2}, 404,
     'no VIP named "nope"', None),
    ("unknown-backend-patch", "PATCH", "/vips/web/backends/10.0.1.9", {"weight": 2}, 404,
     "vip web has no backend 10.0.1.9", None),
    ("unknown-backend-delete", "DELETE", "/vips/web/backends/10.0.1.9", None, 404,
     "vip web has no backend 10.0.1.9", None),
    ("other-vips-backend", "DELETE", "/vips/web/backends/10.0.4.1", None, 404,
     "vip web has no backend 10.0.4.1", None),
    ("bad-path-address", "PATCH", "/vips/web/backends/10.0.1", {"weight": 2}, 400,
     'bad backend address "10.0.1"', None),
    ("patch-nothing", "PATCH", ONE, {}, 400, "nothing to change", None),
    ("patch-address", "PATCH", ONE, {"address": "10.0.1.9"}, 400, 'unknown field "address"',
     None),
    ("patch-weight-zero", "PATCH", ONE, {"weight": 0}, 400, "weight 0 is out of range", None),
    ("patch-bad-state", "PATCH", ONE, {"state": "UP"}, 400, "state must be", None),
    ("patch-not-json", "PATCH", ONE, "weight=2", 400, "malformed JSON", None),
    ("delete-last-backend", "DELETE", "/vips/solo/backends/10.0.4.1", None, 400,
     "[vip:solo] has no backends", None),
    ("get-unknown-vip", "GET", "/vips/nope", None, 404, 'no VIP named "nope"', None),
    ("get-unknown-backend", "GET", "/vips/web/backends/10.0.1.9", None, 404,
     "vip web has no backend 10.0.1.9", None),
    ("put-vips", "PUT", "/vips", {"name": "x"}, 405, "PUT is not allowed on /vips", "GET, HEAD"),
    ("delete-stats", "DELETE", "/stats", None, 405, "not allowed", "GET, HEAD"),
    ("get-reload", "GET", "/reload", None, 405, "not allowed", "POST"),
    ("post-vip", "POST", "/vips/web", {"address": "10.0.1.9"}, 405, "not allowed",
     "GET, HEAD, PATCH"),
    ("put-backend", "PUT", ONE, {"weight": 2}, 405, "not allowed", "GET, HEAD, PATCH, DELETE"),
    ("delete-backends", "DELETE", WEB_BACKENDS_PATH, None, 405, "not allowed",
     "GET, HEAD, POST"),
    ("options", "OPTIONS", "/healthz", None, 405, "not allowed", "GET, HEAD"),
    ("unknown-path", "GET", "/nope", None, 404, "no resource /nope", None),
    ("unknown-subpath", "GET", "/vips/web/nope", None, 404, "no resource", None),
    ("too-deep", "DELETE", "/vips/web/backends/10.0.1.1/extra", None, 404, "no resource", None),
    ("root", "GET", "/", None, 404, "no resource /", None),
    ("long-segment", "GET", "/vips/" + "x" * 300, None, 404, "no resource", None),
    # Bytes that are not UTF-8, quoted in the error (found by fuzz/fuzz_api).
    ("invalid-utf8-vip", "GET", "/vips/%C3%28", None, 400, "not UTF-8 text", None),
    ("invalid-utf8-path", "GET", "/%FF", None, 400, "not UTF-8 text", None),
]


@pytest.fixture(scope="module")
def dplb(tmp_path_factory):
    """One dplb for every case (each checks that it changed nothing), with
    some traffic through it so that its counters are not all zero."""
    instance = dplb_at(tmp_path_factory.mktemp("bad")).start()
    try:
        Traffic(instance).send(tcp(i) for i in range(64))
        yield instance
    finally:
        code, _, err = instance.stop()
        assert code == 0, err


@pytest.mark.parametrize("method, path, body, status, words, allow",
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_request_is_refused_and_changes_nothing(dplb, method, path, body, status, words,
                                                    allow):
    before = state_of(dplb)
    code, headers, answer = dplb.http(method, path, body)
    assert code == status, answer
    assert headers["content-type"] == "application/json"
    assert isinstance(answer, dict) and isinstance(answer["error"], str)
    assert words in answer["error"], answer
    if allow is not None:
        assert headers["allow"] == allow
    assert state_of(dplb) == before
    assert dplb.stats()["generation"] == 1


def test_refused_changes_leave_forwarding_alone(dplb):
    """After every refusal above, new flows still go where lookup says."""
    for i in range(64, 96):
        packet = tcp(i)
        answer = ok(dplb, "GET", f"/vips/web/lookup?src={packet['IP'].src}&sport={packet.sport}")
        assert answer["backend"] in ("10.0.1.1", "10.0.1.2", "10.0.1.3")
    stats = ok(dplb, "GET", "/stats")
    assert stats["generation"] == 1 and stats["totals"]["drops_total"] == 0
