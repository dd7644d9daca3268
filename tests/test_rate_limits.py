"""Rate limits slide (issue 16): a key cannot make twice its limit across a minute boundary."""

from __future__ import annotations

import pytest
from rest_framework.settings import api_settings

from tests.conftest import error_of

URL = "/t/alpha-golf/api/v1/tenant"


@pytest.fixture
def ten_reads_a_minute(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "read": "10/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    api_settings.reload()
    yield
    api_settings.reload()


def test_a_burst_across_a_minute_boundary_is_limited(
    clubs, api, make_key, ten_reads_a_minute, monkeypatch
):
    import crm.api.throttling as throttling

    boundary = 60 * 29_000_000  # any minute boundary
    client = api(make_key(clubs.alpha))
    monkeypatch.setattr(throttling.time, "time", lambda: boundary - 2)
    assert all(client.get(URL).status_code == 200 for _ in range(10))
    monkeypatch.setattr(throttling.time, "time", lambda: boundary + 2)
    refused = client.get(URL)  # a fixed window would allow ten more here
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # As the last minute slides out, requests are allowed again.
    monkeypatch.setattr(throttling.time, "time", lambda: boundary + 59)
    assert client.get(URL).status_code == 200


# --- Failed authentication per client address --------------------------------------------------

GRAPHQL = "/t/alpha-golf/graphql"


@pytest.fixture
def three_failures_a_minute(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth_failures": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    api_settings.reload()
    yield
    api_settings.reload()


def _frozen_at(monkeypatch, moment: float) -> None:
    import crm.api.throttling as throttling

    monkeypatch.setattr(throttling.time, "time", lambda: moment)


def test_an_address_that_keeps_failing_gets_429_before_its_key_is_checked(
    clubs, api, make_key, three_failures_a_minute, monkeypatch
):
    _frozen_at(monkeypatch, 60 * 29_100_000 + 5)
    good = make_key(clubs.alpha)
    guesser = api("crm_not-a-key", REMOTE_ADDR="203.0.113.7")
    # The header a client sends does not change its address (NUM_PROXIES is 0).
    assert guesser.get(URL, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 401
    assert guesser.post(GRAPHQL, {"query": "{ tenant { slug } }"},
                        content_type="application/json").status_code == 401  # fmt: skip
    assert guesser.get(URL, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 401
    # Over the limit: refused before any key is looked at, a good one included, REST and GraphQL.
    for refused in (
        api(good, REMOTE_ADDR="203.0.113.7").get(URL),
        guesser.get(URL),
        guesser.post(GRAPHQL, {"query": "{ tenant { slug } }"}, content_type="application/json"),
    ):
        assert refused.status_code == 429
        error = error_of(refused)
        assert error["code"] == "rate_limited"
        assert "failed authentications" in error["message"]
        assert 1 <= int(refused["Retry-After"]) <= 60
    # A good key from another address is not affected; nor is the same address at another club.
    assert api(good, REMOTE_ADDR="203.0.113.8").get(URL).status_code == 200
    bravo = api(make_key(clubs.bravo), REMOTE_ADDR="203.0.113.7")
    assert bravo.get("/t/bravo-golf/api/v1/tenant").status_code == 200


def test_the_failed_authentication_window_slides(
    clubs, api, make_key, three_failures_a_minute, monkeypatch
):
    boundary = 60 * 29_200_000
    good = api(make_key(clubs.alpha), REMOTE_ADDR="203.0.113.9")
    guesser = api("crm_not-a-key", REMOTE_ADDR="203.0.113.9")
    _frozen_at(monkeypatch, boundary - 2)
    assert [guesser.get(URL).status_code for _ in range(3)] == [401, 401, 401]
    # A new minute does not wipe the slate: the last minute's failures still weigh in.
    _frozen_at(monkeypatch, boundary + 2)
    refused = good.get(URL)
    assert refused.status_code == 429
    wait = int(refused["Retry-After"])
    assert 2 <= wait < 58  # less than a fixed window's wait: the old failures slide out
    _frozen_at(monkeypatch, boundary + 10)
    assert good.get(URL).status_code == 429
    _frozen_at(monkeypatch, boundary + 2 + wait)
    assert good.get(URL).status_code == 200


def test_failed_admin_sign_ins_count_per_address(
    clubs, make_staff, three_failures_a_minute, monkeypatch
):
    from django.test import Client

    from tests.conftest import STAFF_PASSWORD

    _frozen_at(monkeypatch, 60 * 29_300_000 + 5)
    email = make_staff(clubs.alpha, "ADMIN")
    login = "/t/alpha-golf/admin/login/?next=/t/alpha-golf/admin/"
    guesser = Client(REMOTE_ADDR="203.0.113.10")
    for _ in range(3):
        page = guesser.post(login, {"username": email, "password": "wrong"})
        assert page.status_code == 200  # the form again, with Django's message
    # Over the limit even the right password is not checked: the page says to wait.
    page = guesser.post(login, {"username": email, "password": STAFF_PASSWORD})
    assert page.status_code == 429
    assert 1 <= int(page["Retry-After"]) <= 60
    assert "Too many failed sign-ins from your address" in page.content.decode()
    assert "_auth_user_id" not in guesser.session
    # Staff signing in from elsewhere are not affected.
    elsewhere = Client(REMOTE_ADDR="203.0.113.11")
    page = elsewhere.post(login, {"username": email, "password": STAFF_PASSWORD})
    assert page.status_code == 302
