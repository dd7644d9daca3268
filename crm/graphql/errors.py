"""Payload errors of mutations (Saleor style), shared by every app's GraphQL tree."""

from __future__ import annotations

import graphene
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from graphene_django.constants import MUTATION_ERRORS_FLAG
from graphql import GraphQLResolveInfo


class MutationError(graphene.ObjectType):
    """Why a mutation did not do what it was asked."""

    field = graphene.String(
        description="The argument or rule path at fault (camelCase); null for all."
    )
    message = graphene.String(required=True)
    code = graphene.String(required=True)


def errors_from(exc: ValidationError, *, code: str = "invalid") -> list[MutationError]:
    """A Django ValidationError -> one MutationError per message, named by its field/path."""
    if not hasattr(exc, "error_dict"):
        return [MutationError(field=None, message=m, code=code) for m in exc.messages]
    return [
        MutationError(field=None if name == NON_FIELD_ERRORS else name, message=m, code=code)
        for name, messages in exc.message_dict.items()
        for m in messages
    ]


def refuse(info: GraphQLResolveInfo, errors: list[MutationError]) -> list[MutationError]:
    """Answer with payload errors and roll the operation's transaction back."""
    setattr(info.context, MUTATION_ERRORS_FLAG, True)
    return errors
