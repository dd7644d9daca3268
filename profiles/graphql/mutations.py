"""Writes on customers: each checks the caller's scope, validates its input and calls the
service REST calls (profiles.services).

A refusal from the data (a ValidationError from the service, an unknown customer) is answered
in the payload's `errors` (Saleor style); a missing scope is a GraphQL error with the code
`permission_denied`. Either way the operation's transaction is rolled back (ATOMIC_MUTATIONS):
a document with several mutations is all or nothing.
"""

from __future__ import annotations

from typing import Any

import graphene
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from graphene_django.constants import MUTATION_ERRORS_FLAG
from graphql import GraphQLError

from crm.accounts.scopes import NOTES, Scope
from crm.api.authentication import ServicePrincipal
from crm.graphql.permissions import require_any_scope
from profiles.graphql.loaders import forget
from profiles.graphql.types import CustomerError, CustomerNoteType, CustomerType
from profiles.models import Customer, CustomerStatus
from profiles.selectors import customer_get, customer_get_current
from profiles.services import (
    customer_erase,
    customer_merge,
    customer_note_add,
    customer_tags_set,
    customer_unmerge,
)

MAX_TAG_CHARS = 64


def _require(info, *scopes: str) -> None:
    try:
        require_any_scope(info, *scopes)
    except GraphQLError:
        setattr(info.context, MUTATION_ERRORS_FLAG, True)
        raise


def _actor(info) -> str:
    user = info.context.user
    return str(user) if isinstance(user, ServicePrincipal) else getattr(user, "email", "staff")


def _lookup(customer_id: Any, *, follow_merge: bool) -> Customer | None:
    """As REST's CustomerView.get_customer: unknown or erased is None; a merged-away id is
    itself, or (follow_merge) the customer it became."""
    asked, current = customer_get_current(customer_id=str(customer_id))
    if (
        asked is None
        or current is None
        or (current.status == CustomerStatus.DELETED and asked is current)
    ):
        return None
    return current if follow_merge else asked


def _not_found(field: str) -> CustomerError:
    return CustomerError(
        field=field, message="No customer with this id in this club.", code="not_found"
    )


def _errors_of(
    exc: ValidationError, *, code: str, rename: dict[str, str] | None = None
) -> list[CustomerError]:
    """A Django ValidationError -> one CustomerError per message, named by argument."""
    rename = rename or {}
    if not hasattr(exc, "error_dict"):
        return [CustomerError(field=None, message=m, code=code) for m in exc.messages]
    return [
        CustomerError(
            field=None if field == NON_FIELD_ERRORS else rename.get(field, field),
            message=message,
            code=code,
        )
        for field, messages in exc.message_dict.items()
        for message in messages
    ]


def _refused(info, errors: list[CustomerError]) -> list[CustomerError]:
    setattr(info.context, MUTATION_ERRORS_FLAG, True)  # roll the operation back
    return errors


class MergeCustomers(graphene.Mutation):
    """Make two customers one, keeping the winner's id (scope crm:admin). The loser's id keeps
    answering with the winner's data; undone by unmergeCustomers."""

    class Arguments:
        winner_id = graphene.UUID(required=True, description="The customer that stays.")
        loser_id = graphene.UUID(required=True, description="The customer merged into it.")

    customer = graphene.Field(CustomerType, description="The winner, now holding both.")
    errors = graphene.List(graphene.NonNull(CustomerError), required=True)

    @classmethod
    def mutate(cls, root, info, winner_id, loser_id):
        _require(info, Scope.ADMIN)
        winner = _lookup(winner_id, follow_merge=False)
        loser = _lookup(loser_id, follow_merge=False)
        missing = [
            _not_found(name)
            for name, found in (("winnerId", winner), ("loserId", loser))
            if found is None
        ]
        if missing:
            return cls(errors=_refused(info, missing))
        try:
            merged = customer_merge(winner=winner, loser=loser, actor_label=_actor(info))
        except ValidationError as exc:
            errors = _errors_of(exc, code="merge_refused", rename={"customer": "winnerId"})
            return cls(errors=_refused(info, errors))
        forget(info)
        return cls(customer=merged, errors=[])


class UnmergeCustomers(graphene.Mutation):
    """Undo a staff merge (scope crm:admin): both customers come back as before."""

    class Arguments:
        winner_id = graphene.UUID(required=True)
        loser_id = graphene.UUID(required=True)

    customer = graphene.Field(CustomerType, description="The restored loser.")
    winner = graphene.Field(CustomerType, description="The winner, without the loser's data.")
    errors = graphene.List(graphene.NonNull(CustomerError), required=True)

    @classmethod
    def mutate(cls, root, info, winner_id, loser_id):
        _require(info, Scope.ADMIN)
        winner = _lookup(winner_id, follow_merge=False)
        if winner is None:
            return cls(errors=_refused(info, [_not_found("winnerId")]))
        try:
            restored = customer_unmerge(winner=winner, loser_id=loser_id, actor_label=_actor(info))
        except ValidationError as exc:
            errors = _errors_of(exc, code="unmerge_refused", rename={"customer": "winnerId"})
            return cls(errors=_refused(info, errors))
        forget(info)
        return cls(customer=restored, winner=customer_get(customer_id=str(winner.id)), errors=[])


class AddCustomerNote(graphene.Mutation):
    """A staff note on a customer (scope crm:write, or a staff role that may add notes). A
    merged-away id adds it to the customer it became."""

    class Arguments:
        customer_id = graphene.UUID(required=True)
        body = graphene.String(required=True, description="1 to 10,000 characters.")

    note = graphene.Field(CustomerNoteType)
    errors = graphene.List(graphene.NonNull(CustomerError), required=True)

    @classmethod
    def mutate(cls, root, info, customer_id, body: str):
        _require(info, Scope.WRITE, NOTES)
        customer = _lookup(customer_id, follow_merge=True)
        if customer is None:
            return cls(errors=_refused(info, [_not_found("customerId")]))
        try:
            note = customer_note_add(customer=customer, body=body, author_label=_actor(info))
        except ValidationError as exc:
            errors = _errors_of(exc, code="invalid", rename={"customer": "customerId"})
            return cls(errors=_refused(info, errors))
        forget(info)
        return cls(note=note, errors=[])


class SetCustomerTags(graphene.Mutation):
    """Add and remove tags (scope crm:write). Tags are stored lower case; at most 64 characters
    each and 50 per customer."""

    class Arguments:
        customer_id = graphene.UUID(required=True)
        add = graphene.List(graphene.NonNull(graphene.String), default_value=[])
        remove = graphene.List(graphene.NonNull(graphene.String), default_value=[])

    customer = graphene.Field(CustomerType)
    errors = graphene.List(graphene.NonNull(CustomerError), required=True)

    @classmethod
    def mutate(cls, root, info, customer_id, add: list[str], remove: list[str]):
        _require(info, Scope.WRITE)
        too_long = [
            CustomerError(
                field=name, message=f"Tags are at most {MAX_TAG_CHARS} characters.", code="invalid"
            )
            for name, tags in (("add", add), ("remove", remove))
            if any(len(tag) > MAX_TAG_CHARS for tag in tags)
        ]
        if too_long:
            return cls(errors=_refused(info, too_long))
        customer = _lookup(customer_id, follow_merge=True)
        if customer is None:
            return cls(errors=_refused(info, [_not_found("customerId")]))
        try:
            customer = customer_tags_set(
                customer=customer, add=add, remove=remove, actor_label=_actor(info)
            )
        except ValidationError as exc:
            errors = _errors_of(exc, code="invalid", rename={"customer": "customerId"})
            return cls(errors=_refused(info, errors))
        forget(info)
        return cls(customer=customer, errors=[])


class EraseCustomer(graphene.Mutation):
    """GDPR erasure (scope crm:admin): the person's data goes from every app in the club, and
    events about them that arrive later are kept only as anonymous facts. Audited; cannot be
    undone. A merged-away id erases the customer it became."""

    class Arguments:
        customer_id = graphene.UUID(required=True)
        reason = graphene.String(description="Why (kept in the audit log); at most 200.")

    customer_id = graphene.UUID(description="The erased customer (now DELETED).")
    errors = graphene.List(graphene.NonNull(CustomerError), required=True)

    @classmethod
    def mutate(cls, root, info, customer_id, reason: str | None = None):
        _require(info, Scope.ADMIN)
        if reason is not None and len(reason) > 200:
            error = CustomerError(field="reason", message="At most 200 characters.", code="invalid")
            return cls(errors=_refused(info, [error]))
        customer = _lookup(customer_id, follow_merge=True)
        if customer is None or customer.status == CustomerStatus.DELETED:
            return cls(errors=_refused(info, [_not_found("customerId")]))
        erased = customer_erase(customer=customer, actor_label=_actor(info), reason=reason or "")
        forget(info)
        return cls(customer_id=erased.id, errors=[])
