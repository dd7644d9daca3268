from __future__ import annotations

from graphql import GraphQLError, GraphQLResolveInfo

from crm.api.permissions import caller_scopes


def require_scope(info: GraphQLResolveInfo, scope: str) -> None:
    """Resolvers call this: the same scopes as REST, from the same key or staff session."""
    if scope not in caller_scopes(info.context):
        raise GraphQLError(
            f"This needs the scope {scope}.", extensions={"code": "permission_denied"}
        )


def require_any_scope(info: GraphQLResolveInfo, *scopes: str) -> None:
    """As require_scope, when any one of `scopes` will do (REST's tuple `write_scope`)."""
    if not set(scopes) & caller_scopes(info.context):
        needed = f"the scope {scopes[0]}" if len(scopes) == 1 else "one of the scopes "
        raise GraphQLError(
            f"This needs {needed}{', '.join(scopes) if len(scopes) > 1 else ''}.",
            extensions={"code": "permission_denied"},
        )


def require_scope_for_mutation(info: GraphQLResolveInfo, *scopes: str) -> None:
    """As require_any_scope, for a mutation: the refusal also rolls the operation back."""
    from graphene_django.constants import MUTATION_ERRORS_FLAG

    try:
        require_any_scope(info, *scopes)
    except GraphQLError:
        setattr(info.context, MUTATION_ERRORS_FLAG, True)
        raise


def actor_label(info: GraphQLResolveInfo) -> str:
    """Who is acting, for audit rows: the staff member's email or the key's name."""
    user = info.context.user
    label: str = getattr(user, "email", None) or str(user)
    return label
