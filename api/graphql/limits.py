"""Guards that run before a GraphQL operation executes: one operation chosen by name, and a cost
limit on how many records a request may ask for.

The cost of a request is the sum of the page sizes it asks for: every field with a ``limit``
argument costs its limit (the argument's default when not given), times the limits of the list
fields it sits in; aliases count each time. ``families(limit: 500)`` costs 500, thirty aliases of
it 15,000, and a list nested in a list of 20 costs 20 times its own limit. It is computed from the
document and the variables before anything runs, and a request over ``graphql_max_cost`` is
refused whole with code ``query_too_costly``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.utilities.coerce_input_value import coerce_default_value
from strawberry.extensions import SchemaExtension

from service.pagination import MAX_LIMIT


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


class OneOperationByName(SchemaExtension):
    """A document with several operations runs only the one `operationName` names (the spec's
    GetOperation); Strawberry would run the first."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # Strawberry fills `operation_name` from the first operation when none was sent; only
        # the name the client sent tells the two apart.
        sent = getattr(context, "_provided_operation_name", None)
        if document is not None and sent is None and len(_operations(document)) > 1:
            context.pre_execution_errors = [
                GraphQLError(
                    "The document has several operations: send operationName to choose one.",
                    extensions={"code": "operation_name_required", "status": 400},
                )
            ]
        yield


def _page_size(field: FieldNode, default: Any, variables: Mapping[str, Any]) -> int:
    for argument in field.arguments or ():
        if argument.name.value != "limit":
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            sent = variables.get(value.name.value, default)
            # Not a number: coercion refuses it later; count it as the largest page meanwhile.
            return sent if isinstance(sent, int) and not isinstance(sent, bool) else MAX_LIMIT
        return MAX_LIMIT
    return default if isinstance(default, int) else 0


def selection_cost(
    schema: GraphQLSchema,
    parent: GraphQLObjectType,
    selections: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    multiplier: int,
) -> int:
    cost = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            definition = parent.fields.get(selection.name.value)
            if definition is None:  # __typename, introspection
                continue
            inner = multiplier
            limit_argument = definition.args.get("limit")
            if limit_argument is not None:
                default = coerce_default_value(limit_argument)
                size = max(_page_size(selection, default, variables), 0)
                cost += multiplier * size
                inner = multiplier * max(size, 1)
            child = get_named_type(definition.type)
            if selection.selection_set is not None and isinstance(child, GraphQLObjectType):
                cost += selection_cost(
                    schema, child, selection.selection_set, fragments, variables, inner
                )
            continue
        if isinstance(selection, InlineFragmentNode):
            target, selection_set = selection.type_condition, selection.selection_set
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None:
                continue
            target, selection_set = fragment.type_condition, fragment.selection_set
        else:
            continue
        named = schema.get_type(target.name.value) if target is not None else parent
        if isinstance(named, GraphQLObjectType):
            cost += selection_cost(schema, named, selection_set, fragments, variables, multiplier)
    return cost


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
) -> int:
    operations = _operations(document)
    chosen = [o for o in operations if o.name is not None and o.name.value == operation_name]
    operation = chosen[0] if chosen else operations[0] if operations else None
    if operation is None:
        return 0
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root is None:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    # A variable the client left out takes the default its definition gives.
    defaults = {
        d.variable.name.value: int(d.default_value.value)
        for d in operation.variable_definitions or ()
        if isinstance(d.default_value, IntValueNode)
    }
    return selection_cost(
        schema, root, operation.selection_set, fragments, {**defaults, **variables}, 1
    )


def cost_limit(max_cost: int) -> type[SchemaExtension]:
    class CostLimit(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            context = self.execution_context
            if context.graphql_document is not None:
                cost = operation_cost(
                    context.schema._schema,
                    context.graphql_document,
                    context.operation_name,
                    context.variables or {},
                )
                if cost > max_cost:
                    context.result = GraphQLExecutionResult(
                        data=None,
                        errors=[
                            GraphQLError(
                                f"The query asks for up to {cost} records; the limit is "
                                f"{max_cost} (the sum of the page sizes, times the pages they "
                                "sit in). Ask for smaller pages or fewer lists.",
                                extensions={"code": "query_too_costly", "status": 400},
                            )
                        ],
                    )
            yield

    return CostLimit
