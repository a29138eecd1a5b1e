"""A reload cannot quietly turn authentication off (issue 13, item 3): on
a listener beyond loopback, a file that drops token_file is refused, by
SIGHUP and by POST /reload alike, unless it says allow_unauthenticated =
yes; the weakening is logged either way. On loopback nobody else can reach
the API, and the token may go."""

from harness.apitest import config, dplb_at, ok
from harness.dplb_harness import free_port

TOKEN = "s3cret"
REFUSED = "token_file removed while the API listens beyond loopback"


def bearer(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def management(listen=None, token_path=None, allow=None):
    """config() with these [management] lines; without listen, the test
    harness's own port on 127.0.0.1."""
    lines = [f"listen = {listen}"] if listen else []
    if token_path is not None:
        lines.append(f"token_file = {token_path}")
    if allow is not None:
        lines.append(f"allow_unauthenticated = {allow}")
    return config(management="\n".join(lines))


def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def test_a_reload_that_drops_the_token_beyond_loopback_is_refused(tmp_path):
    port = free_port()
    listen = f"0.0.0.0:{port}"
    with dplb_at(tmp_path, management(listen, token_file(tmp_path)), http_port=port) as dplb:
        # By SIGHUP: refused, the old configuration (and token) stays.
        stats = dplb.reload(management(listen))
        assert stats["reloads_failed"] == 1 and stats["reloads_ok"] == 0
        assert dplb.http("DELETE", "/vips/web/backends/10.0.1.1")[0] == 401

        # By POST /reload: 422, saying how to mean it.
        status, _, answer = dplb.http("POST", "/reload", headers=bearer())
        assert status == 422, answer
        assert REFUSED in answer["error"] and "allow_unauthenticated = yes" in answer["error"]
        assert dplb.http("DELETE", "/vips/web/backends/10.0.1.1")[0] == 401

        # Meant: accepted, and from now on changes need no token.
        dplb.config_path.write_text(management(listen, allow="yes"))
        ok(dplb, "POST", "/reload", headers=bearer())
        ok(dplb, "DELETE", "/vips/web/backends/10.0.1.1")
        assert dplb.stats()["reloads_ok"] == 1
    # Each refusal is logged as every refused reload is: what refused it, why.
    assert dplb.stderr.count(f"reload of {dplb.config_path} refused") == 2
    assert dplb.stderr.count(f"{dplb.config_path}: {REFUSED}") == 2
    assert "warning: reload: token_file removed with allow_unauthenticated = yes" in dplb.stderr


def test_a_reload_that_keeps_a_token_or_never_had_one_is_not_refused(tmp_path):
    port = free_port()
    listen = f"0.0.0.0:{port}"
    token = token_file(tmp_path)
    with dplb_at(tmp_path, management(listen, token), http_port=port) as dplb:
        # A new token in another file is no weakening.
        other = tmp_path / "other-token"
        other.write_text("other")
        dplb.config_path.write_text(management(listen, other))
        ok(dplb, "POST", "/reload", headers=bearer())
        assert dplb.http("DELETE", "/vips/web/backends/10.0.1.1", headers=bearer())[0] == 401
        ok(dplb, "DELETE", "/vips/web/backends/10.0.1.1", headers=bearer("other"))
    assert "reload refused" not in dplb.stderr

    # Started without a token (dplb warned then): reloads change nothing about it.
    with dplb_at(tmp_path, management(listen), http_port=port) as dplb:
        assert dplb.reload()["reloads_ok"] == 1
    assert "reload refused" not in dplb.stderr
    assert f"warning: {listen} accepts changes from anyone" in dplb.stderr


def test_on_loopback_the_token_may_go(tmp_path):
    with dplb_at(tmp_path, management(token_path=token_file(tmp_path))) as dplb:
        stats = dplb.reload(config())
        assert stats["reloads_ok"] == 1 and stats["reloads_failed"] == 0
        ok(dplb, "DELETE", "/vips/web/backends/10.0.1.1")
    assert "token_file removed" not in dplb.stderr


def test_allow_unauthenticated_at_start_is_noted_not_warned(tmp_path):
    port = free_port()
    listen = f"0.0.0.0:{port}"
    with dplb_at(tmp_path, management(listen, allow="yes"), http_port=port) as dplb:
        ok(dplb, "DELETE", "/vips/web/backends/10.0.1.1")
    assert f"warning: {listen}" not in dplb.stderr
    assert f"{listen} accepts changes from anyone who can reach it " \
           "(allow_unauthenticated = yes)" in dplb.stdout + dplb.stderr
