"""Limits a GraphQL document must keep before it runs: nesting depth and estimated cost.

graphene's `depth_limit_validator` skips every `__` field (so introspection nests without end)
and nothing counts aliases or list sizes: 200 aliases of `customers(take: 100)` are one
request. `measure` walks an already validated document once, fragments expanded, and stops as
soon as a limit is passed, so a "fragment bomb" costs no more to refuse than the limit itself.

Cost is the number of values the answer may hold: each field counts once per parent object it
is asked of. A field with a `take`/`first`/`limit` argument multiplies what is asked below it
by that argument (from a variable: the largest page, 100; absent: the argument's default or
25), and so does a list of objects without one (by LIST_ESTIMATE) unless its parent was the
paginated field. Aliases are separate fields, so each alias counts. Introspection is counted
with lists as one (its size is the schema's, not the club's data) but within its own depth
limit, sized to fit the standard introspection query GraphiQL sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    is_list_type,
    visit,
)
from graphql.execution.execute import get_field_def
from graphql.language import SelectionSetNode, Visitor
from graphql.type import GraphQLField, GraphQLNamedType, GraphQLNonNull, GraphQLObjectType

from crm.jsonsafe import text_problem

PAGE_ARGUMENTS = ("take", "first", "limit")
DEFAULT_PAGE = 25
MAX_PAGE = 100
LIST_ESTIMATE = 10


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_introspection_depth: int
    max_cost: int


class _Exceeded(Exception):
    def __init__(self, error: GraphQLError) -> None:
        self.error = error


class _Measure:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limits = limits
        self.cost = 0

    def page_size(self, node: FieldNode, field_def: GraphQLField) -> int | None:
        for name in PAGE_ARGUMENTS:
            if name not in field_def.args:
                continue
            argument = next((a for a in node.arguments or () if a.name.value == name), None)
            if argument is None:
                default = field_def.args[name].default_value
                return default if isinstance(default, int) and default > 0 else DEFAULT_PAGE
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(1, int(value.value))
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                if isinstance(given, int) and not isinstance(given, bool) and given > 0:
                    return given
                return MAX_PAGE
            return MAX_PAGE
        return None

    def selections(
        self,
        selection_set: SelectionSetNode,
        parent_type: GraphQLNamedType,
        *,
        depth: int,
        weight: int,
        paginated: bool,
        introspection: bool,
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(
                    selection,
                    parent_type,
                    depth=depth,
                    weight=weight,
                    paginated=paginated,
                    introspection=introspection,
                )
            else:
                if isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is None:
                        continue
                    condition, selected = fragment.type_condition, fragment.selection_set
                else:
                    assert isinstance(selection, InlineFragmentNode)
                    condition, selected = selection.type_condition, selection.selection_set
                fragment_type = (
                    self.schema.get_type(condition.name.value) if condition else parent_type
                )
                if fragment_type is None:
                    continue
                self.selections(
                    selected,
                    fragment_type,
                    depth=depth,
                    weight=weight,
                    paginated=paginated,
                    introspection=introspection,
                )

    def field(
        self,
        node: FieldNode,
        parent_type: GraphQLNamedType,
        *,
        depth: int,
        weight: int,
        paginated: bool,
        introspection: bool,
    ) -> None:
        name = node.name.value
        introspection = introspection or name in ("__schema", "__type")
        limit = self.limits.max_introspection_depth if introspection else self.limits.max_depth
        if depth > limit:
            raise _Exceeded(
                GraphQLError(
                    f"The query nests {depth} levels deep at '{name}'; the limit is {limit}.",
                    node,
                    extensions={"code": "query_too_deep", "limit": limit},
                )
            )
        self.cost += weight
        if self.cost > self.limits.max_cost:
            raise _Exceeded(
                GraphQLError(
                    f"The query may return more than {self.limits.max_cost:,} values (aliases "
                    "and page sizes count); ask for fewer fields, pages or aliases.",
                    node,
                    extensions={"code": "query_too_costly", "limit": self.limits.max_cost},
                )
            )
        if node.selection_set is None:
            return
        # graphql-core's own lookup: knows __schema/__type/__typename, objects and interfaces.
        # (typed for objects only, it takes interfaces as well)
        field_def = get_field_def(self.schema, cast(GraphQLObjectType, parent_type), node)
        if field_def is None:
            return
        field_type = field_def.type
        while isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        page = self.page_size(node, field_def)
        size = 1
        if page is not None:
            size = page
        elif is_list_type(field_type) and not introspection and not paginated:
            size = LIST_ESTIMATE
        self.selections(
            node.selection_set,
            get_named_type(field_type),
            depth=depth + 1,
            weight=weight * size,
            paginated=page is not None,
            introspection=introspection,
        )


class _BadText(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[GraphQLError] = []

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        problem = text_problem(node.value)
        if problem:
            self.errors.append(GraphQLError(problem, node, extensions={"code": "invalid_text"}))


def check_limits(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    limits: Limits,
) -> list[GraphQLError]:
    """Errors for a document that is too deep or too costly, or holds a string no database
    takes (NUL, unpaired surrogate). The document has passed graphql-core's validation."""
    bad_text = _BadText()
    visit(document, bad_text)
    if bad_text.errors:
        return bad_text.errors[:1]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name and d.name.value == operation_name))
    ]
    measure = _Measure(schema, fragments, variables or {}, limits)
    for operation in operations:
        root = schema.get_root_type(operation.operation)
        if root is None:
            continue
        try:
            measure.selections(
                operation.selection_set,
                root,
                depth=0,  # as graphene's depth_limit_validator counts: root fields are 0
                weight=1,
                paginated=False,
                introspection=False,
            )
        except _Exceeded as exceeded:
            return [exceeded.error]
    return []
