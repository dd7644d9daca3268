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
