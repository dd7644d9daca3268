"""What other apps hold about a person, erased with them.

`customer_erase` (profiles/services.py) erases what profiles holds. Other apps keep their own
copies of personal data keyed by the customer or by an upstream id (social keeps competition
entries and scores by TeeTime player id; journeys keep the triggering event in an enrolment's
context). Each such app registers a hook here from its `AppConfig.ready()`; the erasure runs
every hook inside its own transaction, so a person is erased everywhere or nowhere.

An explicit registry rather than a signal: the erasure is a legal duty, and a hook that fails
must fail the erasure loudly instead of being one receiver among others.
"""

from __future__ import annotations

from collections.abc import Callable

from profiles.models import Customer

# (customer, identifiers by record kind: {"teetime": {"P-123"}, "scl": {"4417"}, …}) -> None
ErasureHook = Callable[[Customer, dict[str, set[str]]], None]

_HOOKS: list[ErasureHook] = []


def erasure_hook_register(hook: ErasureHook) -> None:
    """Register an app's eraser (idempotent: `ready()` may run more than once in tests)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)


def erasure_hooks_run(*, customer: Customer, identifiers: dict[str, set[str]]) -> None:
    for hook in _HOOKS:
        hook(customer, identifiers)
