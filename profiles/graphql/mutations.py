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

from crm.accounts.scopes import NOTES, Scope
from crm.api.authentication import ServicePrincipal
from crm.graphql.errors import MutationError
from crm.graphql.mutations import BaseMutation, Refused
from profiles.graphql.loaders import forget
from profiles.graphql.types import CustomerNoteType, CustomerType
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


def _not_found(field: str) -> MutationError:
    return MutationError(
        field=field, message="No customer with this id in this club.", code="not_found"
    )


def _errors_of(
    exc: ValidationError, *, code: str, rename: dict[str, str] | None = None
) -> list[MutationError]:
    """A Django ValidationError -> one MutationError per message, named by argument."""
    rename = rename or {}
    if not hasattr(exc, "error_dict"):
        return [MutationError(field=None, message=m, code=code) for m in exc.messages]
    return [
        MutationError(
            field=None if field == NON_FIELD_ERRORS else rename.get(field, field),
            message=message,
            code=code,
        )
        for field, messages in exc.message_dict.items()
        for message in messages
    ]


class MergeCustomers(BaseMutation):
    """Make two customers one, keeping the winner's id (scope crm:admin). The loser's id keeps
    answering with the winner's data; undone by unmergeCustomers."""

    scopes = (Scope.ADMIN,)

    class Arguments:
        winner_id = graphene.UUID(required=True, description="The customer that stays.")
        loser_id = graphene.UUID(required=True, description="The customer merged into it.")

    customer = graphene.Field(CustomerType, description="The winner, now holding both.")

    @classmethod
    def perform(cls, root, info, winner_id, loser_id):
        winner = _lookup(winner_id, follow_merge=False)
        loser = _lookup(loser_id, follow_merge=False)
        missing = [
            _not_found(name)
            for name, found in (("winnerId", winner), ("loserId", loser))
            if found is None
        ]
        if missing:
            raise Refused(*missing)
        try:
            merged = customer_merge(winner=winner, loser=loser, actor_label=_actor(info))
        except ValidationError as exc:
            errors = _errors_of(exc, code="merge_refused", rename={"customer": "winnerId"})
            raise Refused(*errors) from exc
        forget(info)
        return cls(customer=merged, errors=[])


class UnmergeCustomers(BaseMutation):
    """Undo a staff merge (scope crm:admin): both customers come back as before."""

    scopes = (Scope.ADMIN,)

    class Arguments:
        winner_id = graphene.UUID(required=True)
        loser_id = graphene.UUID(required=True)

    customer = graphene.Field(CustomerType, description="The restored loser.")
    winner = graphene.Field(CustomerType, description="The winner, without the loser's data.")

    @classmethod
    def perform(cls, root, info, winner_id, loser_id):
        winner = _lookup(winner_id, follow_merge=False)
        if winner is None:
            raise Refused(_not_found("winnerId"))
        try:
            restored = customer_unmerge(winner=winner, loser_id=loser_id, actor_label=_actor(info))
        except ValidationError as exc:
            errors = _errors_of(exc, code="unmerge_refused", rename={"customer": "winnerId"})
            raise Refused(*errors) from exc
        forget(info)
        return cls(customer=restored, winner=customer_get(customer_id=str(winner.id)), errors=[])


class AddCustomerNote(BaseMutation):
    """A staff note on a customer (scope crm:write, or a staff role that may add notes). A
    merged-away id adds it to the customer it became."""

    scopes = (Scope.WRITE, NOTES)

    class Arguments:
        customer_id = graphene.UUID(required=True)
        body = graphene.String(required=True, description="1 to 10,000 characters.")

    note = graphene.Field(CustomerNoteType)

    @classmethod
    def perform(cls, root, info, customer_id, body: str):
        customer = _lookup(customer_id, follow_merge=True)
        if customer is None:
            raise Refused(_not_found("customerId"))
        try:
            note = customer_note_add(customer=customer, body=body, author_label=_actor(info))
        except ValidationError as exc:
            errors = _errors_of(exc, code="invalid", rename={"customer": "customerId"})
            raise Refused(*errors) from exc
        forget(info)
        return cls(note=note, errors=[])


class SetCustomerTags(BaseMutation):
    """Add and remove tags (scope crm:write). Tags are stored lower case; at most 64 characters
    each and 50 per customer."""

    scopes = (Scope.WRITE,)

    class Arguments:
        customer_id = graphene.UUID(required=True)
        add = graphene.List(graphene.NonNull(graphene.String), default_value=[])
        remove = graphene.List(graphene.NonNull(graphene.String), default_value=[])

    customer = graphene.Field(CustomerType)

    @classmethod
    def perform(cls, root, info, customer_id, add: list[str], remove: list[str]):
        too_long = [
            MutationError(
                field=name, message=f"Tags are at most {MAX_TAG_CHARS} characters.", code="invalid"
            )
            for name, tags in (("add", add), ("remove", remove))
            if any(len(tag) > MAX_TAG_CHARS for tag in tags)
        ]
        if too_long:
            raise Refused(*too_long)
        customer = _lookup(customer_id, follow_merge=True)
        if customer is None:
            raise Refused(_not_found("customerId"))
        try:
            customer = customer_tags_set(
                customer=customer, add=add, remove=remove, actor_label=_actor(info)
            )
        except ValidationError as exc:
            errors = _errors_of(exc, code="invalid", rename={"customer": "customerId"})
            raise Refused(*errors) from exc
        forget(info)
        return cls(customer=customer, errors=[])


class EraseCustomer(BaseMutation):
    """GDPR erasure (scope crm:admin): the person's data goes from every app in the club, and
    events about them that arrive later are kept only as anonymous facts. Audited; cannot be
    undone. A merged-away id erases the customer it became."""

    scopes = (Scope.ADMIN,)

    class Arguments:
        customer_id = graphene.UUID(required=True)
        reason = graphene.String(description="Why (kept in the audit log); at most 200.")

    customer_id = graphene.UUID(description="The erased customer (now DELETED).")

    @classmethod
    def perform(cls, root, info, customer_id, reason: str | None = None):
        if reason is not None and len(reason) > 200:
            error = MutationError(field="reason", message="At most 200 characters.", code="invalid")
            raise Refused(error)
        customer = _lookup(customer_id, follow_merge=True)
        if customer is None or customer.status == CustomerStatus.DELETED:
            raise Refused(_not_found("customerId"))
        erased = customer_erase(customer=customer, actor_label=_actor(info), reason=reason or "")
        forget(info)
        return cls(customer_id=erased.id, errors=[])
