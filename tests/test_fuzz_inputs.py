"""Property-based fuzzing (hypothesis) of the two richest inputs: the event envelope and the
segment rule. Whatever the values (NUL, unpaired surrogates, huge or non-finite numbers, odd
nesting, wrong types), the answer is never a 500: an event is accepted or rejected alone, a
rule is previewed or refused with the error shape."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import error_of
from tests.events import member

EVENTS = "/t/alpha-golf/api/v1/events"
PREVIEW = "/t/alpha-golf/api/v1/segments/preview"
FUZZ = settings(
    max_examples=25,
    derandomize=True,  # the same examples in every CI run; a hunt is a local run without it
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["a\u0000b", "\ud800", "\udfff x", "", " ", "2026-13-45", "NaN"]),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e30, 10**30, -1, 0, 2**31, 2**63]),
    _text,
)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_text, children, max_size=4)
    ),
    max_leaves=12,
)


def _dumps(value) -> str:
    # Lone surrogates go out as \\ud800 escapes, as a JSON producer writes them.
    return json.dumps(value, ensure_ascii=True)


@given(
    changes=st.dictionaries(
        st.sampled_from(
            ["id", "type", "version", "timestamp", "tenantSlug", "source", "identity",
             "payload", "metadata", "tenantId"]
        ),
        _json,
        max_size=4,
    ),
    payload_changes=st.dictionaries(_text, _json, max_size=4),
)  # fmt: skip
@FUZZ
def test_any_envelope_is_accepted_or_rejected_alone(clubs, api, make_key, changes, payload_changes):
    client = api(make_key(clubs.alpha, "events:write"))
    fuzzed = member(7)
    fuzzed["payload"].update(payload_changes)
    fuzzed.update(changes)
    good = member(8)
    response = client.post(
        EVENTS, _dumps({"events": [good, fuzzed]}), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    results = response.json()["data"]
    assert results[0]["status"] in ("accepted", "duplicate")
    assert results[1]["status"] in ("accepted", "rejected", "duplicate")
    if results[1]["status"] == "rejected":
        assert results[1]["errors"]


_FIELDS = [
    "status", "tags", "age", "birthMonth", "createdAt", "email", "engagementScore",
    "membershipTier", "memberSince", "handicap", "bookingCount", "totalSpend", "emailOptIn",
    "inSegment", "lastBookingAt", "nope",
]  # fmt: skip
_OPERATORS = [
    "eq", "neq", "gt", "gte", "lt", "lte", "between", "in", "notIn", "contains", "isNull",
    "isNotNull", "withinLastDays", "moreThanDaysAgo", "withinNextDays", "like",
]  # fmt: skip
_condition = st.fixed_dictionaries(
    {"field": st.sampled_from(_FIELDS), "operator": st.sampled_from(_OPERATORS)},
    optional={
        "value": _json,
        "window": st.one_of(
            st.fixed_dictionaries({"lastDays": _scalars}),
            st.fixed_dictionaries({"from": _text, "to": _text}),
            _json,
        ),
    },
)
_rule = st.recursive(
    _condition,
    lambda children: st.fixed_dictionaries(
        {
            "combinator": st.sampled_from(["AND", "OR", "XOR", 1]),
            "rules": st.lists(children, max_size=3),
        },
        optional={"not": _scalars},
    ),
    max_leaves=6,
)


@given(rules=st.one_of(_rule, _json))
@FUZZ
def test_any_rule_is_previewed_or_refused_by_field(clubs, api, make_key, rules):
    client = api(make_key(clubs.alpha, "crm:read,crm:write"))
    response = client.post(PREVIEW, _dumps({"rules": rules}), content_type="application/json")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert error_of(response)["details"]
    else:
        assert isinstance(response.json()["data"]["count"], int)
