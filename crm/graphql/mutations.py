"""The base of every app's GraphQL mutation (Saleor style): what each one used to repeat.

A subclass sets `scopes` (any one of them will do, as REST's `write_scope`), its `Arguments`
and its payload fields, and writes `perform` (the mutation proper). `mutate` then:

- checks the scope first: a caller without it gets a GraphQL error `permission_denied`, and
  the operation is rolled back;
- checks the input (`validate`): refusals come back in `errors` before anything runs. Unknown
  fields and wrong types of a typed input (`InputObjectType`) are GraphQL's own to refuse,
  before the mutation is called;
- runs `perform` with the actor known (`crm.accounts.services.acting_as`), so the audit rows its
  services write carry the staff member's or the key's foreign key, not only a label;
- answers a `ValidationError` (Django's from a service, or DRF's from the REST serializer a
  mutation reuses on its input; by field path), a `Refused` raised by `perform` and any of the
  subclass's `state_errors` (code `invalid_state`) in `errors`, the one `MutationError` type,
  and rolls the operation back (ATOMIC_MUTATIONS): a document with several mutations is all or
  nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import graphene
from django.core.exceptions import ValidationError
from graphql import GraphQLResolveInfo
from rest_framework import exceptions

from crm.accounts.services import Actor, acting_as
from crm.api.authentication import caller_actor
from crm.api.errors import validation_details
from crm.graphql.errors import MutationError, errors_from, refuse
from crm.graphql.permissions import require_scope_for_mutation


class Refused(Exception):
    """Raised by `perform`: answer with these payload errors (and roll back)."""

    def __init__(self, *errors: MutationError) -> None:
        super().__init__("; ".join(str(error.message) for error in errors))
        self.errors = list(errors)


def actor_of(info: GraphQLResolveInfo) -> Actor:
    """The caller of this operation as an audit actor: a key or a staff member."""
    return caller_actor(info.context.user)


class BaseMutation(graphene.Mutation):
    class Meta:
        abstract = True

    errors = graphene.List(graphene.NonNull(MutationError), required=True)

    # Any one of these scopes lets the caller run the mutation.
    scopes: ClassVar[tuple[str, ...]] = ()
    # The app's "not in a state for that" errors, answered with the code `invalid_state`.
    state_errors: ClassVar[tuple[type[Exception], ...]] = ()
    # The code a ValidationError from `perform` is answered with.
    validation_code: ClassVar[str] = "invalid"

    @classmethod
    def validate(cls, info: GraphQLResolveInfo, **arguments: Any) -> list[MutationError]:
        """Refusals of the arguments themselves, before anything runs (none by default)."""
        return []

    # The mutation proper: `perform(cls, root, info, <its arguments>)`, a classmethod that
    # returns the payload or raises (Refused, ValidationError, a state error). Each mutation
    # names its own arguments, hence the loose type.
    perform: ClassVar[Callable[..., BaseMutation]]

    @classmethod
    def refuse(cls, info: GraphQLResolveInfo, errors: list[MutationError]) -> BaseMutation:
        """The payload that refuses, with the operation rolled back."""
        return cls(errors=refuse(info, errors))

    @classmethod
    def mutate(cls, root: Any, info: GraphQLResolveInfo, **arguments: Any) -> BaseMutation:
        if not cls.scopes:
            raise TypeError(f"{cls.__name__} names no scope")
        require_scope_for_mutation(info, *cls.scopes)
        problems = cls.validate(info, **arguments)
        if problems:
            return cls.refuse(info, problems)
        try:
            with acting_as(actor_of(info)):
                return cls.perform(root, info, **arguments)
        except Refused as refused:
            return cls.refuse(info, refused.errors)
        except cls.state_errors as exc:  # before ValidationError: a state error may be one
            state = MutationError(field=None, message=str(exc), code="invalid_state")
            return cls.refuse(info, [state])
        except ValidationError as exc:
            return cls.refuse(info, errors_from(exc, code=cls.validation_code))
        except exceptions.ValidationError as exc:  # a reused REST serializer's, by field path
            by_field = ValidationError(validation_details(exc.detail))
            return cls.refuse(info, errors_from(by_field, code=cls.validation_code))
