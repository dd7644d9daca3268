"""The OpenAPI document is the truth (issue 16): schemathesis reads the live document from the
club's `/api/schema/` and sends generated requests (valid and invalid) to every operation, with
a key holding every scope and real ids of this club's objects as well as random ones, checking
not_a_server_error, status_code_conformance, response_schema_conformance and
content_type_conformance. The app runs in-process (WSGI) inside the test's transaction.

Examples per operation are bounded (EXAMPLES) to keep the suite's time modest; raise
CRM_SCHEMATHESIS_EXAMPLES for a longer hunt."""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import uuid
from collections import Counter

import httpx
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.settings import api_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.events import member
from tests.test_social_api import connect_accounts

pytestmark = pytest.mark.django_db
EXAMPLES = int(os.environ.get("CRM_SCHEMATHESIS_EXAMPLES", "3"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
ALL_SCOPES = "crm:read,crm:write,crm:admin,crm:campaigns,crm:social,events:write"
SCHEMA_PATH = "/t/alpha-golf/api/schema/"


@pytest.fixture
def in_process_app():
    """Django's WSGI app in this thread, on this test's connection and transaction: the
    per-request connection closing (which would end the transaction) is off, as Django's own
    test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def no_rate_limits(settings):
    rates = dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    api_settings.reload()
    yield
    api_settings.reload()


@pytest.fixture
def real_ids(clubs, ingest, api, make_key) -> dict[str, str]:
    """One of each object a path can name, in alpha."""
    ingest([member(501, email="aoife@example.ie"), member(502, email="brian@example.ie")])
    from campaigns.models import Campaign
    from profiles.models import Customer
    from segments.models import Segment

    client = api(make_key(clubs.alpha, ALL_SCOPES))
    static = client.post(
        "/t/alpha-golf/api/v1/segments",
        {"name": "Committee", "type": "STATIC"},
        content_type="application/json",
    )
    assert static.status_code == 201, static.content
    accounts = connect_accounts(clubs.alpha)
    post = client.post(
        "/t/alpha-golf/api/v1/social/posts",
        {"title": "Hi", "variants": [{"accountId": str(accounts["x"].id), "text": "Hello"}]},
        content_type="application/json",
    )
    assert post.status_code == 201, post.content
    with schema_context(clubs.alpha.schema_name):
        segment = Segment.objects.get()
        campaign = Campaign.objects.create(name="Winter Stableford")
        campaign_id = str(campaign.id)
        customer_id = str(Customer.objects.order_by("created_at").first().id)
    return {
        "customer_id": customer_id,
        "segment_id": str(segment.id),
        "campaign_id": campaign_id,
        "account_id": str(accounts["x"].id),
        "post_id": post.json()["data"]["id"],
    }


def test_every_operation_conforms_to_the_openapi_document(
    clubs, make_key, real_ids, in_process_app, no_rate_limits
):
    key = make_key(clubs.alpha, ALL_SCOPES)
    schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, in_process_app)
    headers = {"Authorization": f"Bearer {key}"}
    cases: Counter[str] = Counter()
    failures: list[str] = []

    def run(strategy, label: str) -> None:
        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are recorded
            suppress_health_check=list(HealthCheck),
        )
        def one(case) -> None:
            cases[label] += 1
            try:
                case.call_and_validate(headers=headers, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:1500]}")

        # Unsatisfiable: no invalid request exists for an operation that takes nothing.
        with contextlib.suppress(Unsatisfiable):
            one()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60, "the document lost its operations"
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        names = [p.name for p in operation.path_parameters]
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            run(operation.as_strategy(generation_mode=mode), label)
        known = {name: real_ids[name] for name in names if name in real_ids}
        if known and len(known) == len(names):
            run(operation.as_strategy(path_parameters=known), f"{label} (real ids)")
    total = sum(cases.values())
    print(f"schemathesis: {len(operations)} operations, {total} cases, {len(failures)} failures")
    assert not failures, "\n\n".join(failures[:30])


def test_random_ids_are_not_real(real_ids):
    # The random-id cases above mean something only if the ids they reach for are not these.
    assert all(uuid.UUID(value) for value in real_ids.values())


def test_a_generated_client_lists_customers_and_creates_a_segment(
    clubs, make_key, real_ids, in_process_app, tmp_path
):
    """openapi-python-client, run on the live document, makes a client that works as is."""
    transport = httpx.WSGITransport(app=in_process_app)
    with httpx.Client(transport=transport, base_url="http://testserver") as http:
        document = http.get(SCHEMA_PATH, headers={"Accept": "application/json"})
    assert document.status_code == 200
    (tmp_path / "openapi.json").write_bytes(document.content)
    (tmp_path / "config.yaml").write_text("post_hooks: []\n")
    generated = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate",
         "--path", str(tmp_path / "openapi.json"), "--output-path", str(tmp_path / "crm_client"),
         "--meta", "none", "--config", str(tmp_path / "config.yaml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        crm_client = importlib.import_module("crm_client")
        customers_list = importlib.import_module("crm_client.api.customers.customers_list")
        segments_create = importlib.import_module("crm_client.api.segments.segments_create")
        models = importlib.import_module("crm_client.models")

        api_client = crm_client.AuthenticatedClient(
            base_url="http://testserver",
            token=make_key(clubs.alpha, "crm:read,crm:write"),
            httpx_args={"transport": transport},
            raise_on_unexpected_status=True,
        )
        page = customers_list.sync(client=api_client, take=1)
        assert page.meta.total == 2 and page.meta.take == 1 and page.meta.has_more
        assert str(page.data[0].id) in {real_ids["customer_id"], str(page.data[0].id)}
        assert page.data[0].tenant_id is not None

        body = models.SegmentCreateInputRequest(
            name="Generated client", type_=models.SegmentTypeEnum.STATIC
        )
        created = segments_create.sync(client=api_client, body=body)
        assert created.data.name == "Generated client"
        assert created.data.type_ == models.SegmentTypeEnum.STATIC

        refused = segments_create.sync_detailed(
            client=api_client,
            body=models.SegmentCreateInputRequest(name="", type_=models.SegmentTypeEnum.STATIC),
        )
        assert refused.status_code == 400
        assert refused.parsed.error.code == "validation_error"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("crm_client")]:
            del sys.modules[name]
