from __future__ import annotations

from graphql import GraphQLError

from crm.api.permissions import caller_scopes


def require_scope(info, scope: str) -> None:
    """Resolvers call this: the same scopes as REST, from the same key or staff session."""
    if scope not in caller_scopes(info.context):
        raise GraphQLError(
            f"This needs the scope {scope}.", extensions={"code": "permission_denied"}
        )


def require_any_scope(info, *scopes: str) -> None:
    """As require_scope, when any one of `scopes` will do (REST's tuple `write_scope`)."""
    if not set(scopes) & caller_scopes(info.context):
        raise GraphQLError(
            f"This needs one of the scopes {', '.join(scopes)}.",
            extensions={"code": "permission_denied"},
        )
