"""Guards that run before a GraphQL operation executes (``request_guards``, one extension): the
document's size, depth and aliases, one operation chosen by name, subscriptions over a WebSocket
only, and a cost limit on how many records a request may ask for.

The cost of a request is the sum of the page sizes it asks for: every field with a ``limit``
argument costs its limit (the argument's default when not given), times the limits of the list
fields it sits in; aliases count each time. ``families(limit: 500)`` costs 500, thirty aliases of
it 15,000, and a list nested in a list of 20 costs 20 times its own limit. It is computed from the
document and the variables before anything runs, and a request over ``graphql_max_cost`` is
refused whole with code ``query_too_costly``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
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
    Undefined,
    VariableNode,
    get_named_type,
    parse,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.utilities.coerce_input_value import coerce_default_value
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from api.graphql.subscriptions import subscription_over_http
from service.pagination import MAX_LIMIT
from service.settings import Settings


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def unchosen_operation(context: ExecutionContext, operations: int) -> GraphQLError | None:
    """A document with several operations (``operations``, their count) runs only the one
    `operationName` names (the spec's GetOperation); Strawberry would run the first."""
    # Strawberry fills `operation_name` from the first operation when none was sent; only
    # the name the client sent tells the two apart.
    sent = getattr(context, "_provided_operation_name", None)
    if sent is None and operations > 1:
        return GraphQLError(
            "The document has several operations: send operationName to choose one.",
            extensions={"code": "operation_name_required", "status": 400},
        )
    return None


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


def _limit_variables(selections: SelectionSetNode | None, names: set[str]) -> None:
    for selection in selections.selections if selections is not None else ():
        if isinstance(selection, FieldNode):
            for argument in selection.arguments or ():
                if argument.name.value == "limit" and isinstance(argument.value, VariableNode):
                    names.add(argument.value.name.value)
        _limit_variables(getattr(selection, "selection_set", None), names)


def limit_variables(document: DocumentNode) -> tuple[str, ...]:
    """The variables a document gives as a ``limit``: the only ones its cost depends on."""
    names: set[str] = set()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            _limit_variables(definition.selection_set, names)
    return tuple(sorted(names))


class CostCache:
    """A document's cost, computed once per query text, operation and values of the variables
    its limits take (with their types: ``true`` is no page size, though ``True == 1``); about
    a thirtieth of a ``family(id)`` read's CPU otherwise."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.variables: dict[str, tuple[str, ...]] = {}
        self.costs: dict[tuple[Any, ...], int] = {}

    def cost(self, context: ExecutionContext) -> int:
        document, query = context.graphql_document, context.query
        assert document is not None
        variables = context.variables or {}
        schema = context.schema._schema
        if query is None:
            return operation_cost(schema, document, context.operation_name, variables)
        names = self.variables.get(query)
        if names is None:
            if len(self.variables) >= self.size:
                self.variables.clear()
            names = self.variables[query] = limit_variables(document)
        values = tuple((type(v), v) for v in (variables.get(n, Undefined) for n in names))
        key = (schema, query, context.operation_name, values)
        try:
            return self.costs[key]
        except TypeError:  # a list or an object given as a limit: refused later, not kept
            return operation_cost(schema, document, context.operation_name, variables)
        except KeyError:
            pass
        if len(self.costs) >= self.size:
            self.costs.clear()
        cost = self.costs[key] = operation_cost(schema, document, context.operation_name, variables)
        return cost


def too_costly(
    context: ExecutionContext, max_cost: int, costs: CostCache | None = None
) -> GraphQLExecutionResult | None:
    if context.graphql_document is None:
        return None
    if costs is not None:
        cost = costs.cost(context)
    else:
        cost = operation_cost(
            context.schema._schema,
            context.graphql_document,
            context.operation_name,
            context.variables or {},
        )
    if cost <= max_cost:
        return None
    return GraphQLExecutionResult(
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


class GuardsOnEntry(SchemaExtension):
    """An extension whose hooks all act when their stage starts and do nothing when it ends.

    Strawberry's runner makes, for every stage of every request, a context manager per hook
    (the hook looked up, a generator wrapped by ``contextlib``, an exit stack around them): a
    tenth of a ``family(id)`` read's CPU for four hooks that only act on entry. ``GuardsRunner``
    (below) calls the ``*_starts`` methods at the same moments instead; the generator hooks
    here keep the extension correct under Strawberry's own runner too."""

    def operation_starts(self) -> None:
        pass

    def parsing_starts(self) -> None:
        pass

    def validation_starts(self) -> None:
        pass

    def execution_starts(self) -> None:
        pass

    def on_operation(self) -> Iterator[None]:
        self.operation_starts()
        yield

    def on_parse(self) -> Iterator[None]:
        self.parsing_starts()
        yield

    def on_validate(self) -> Iterator[None]:
        self.validation_starts()
        yield

    def on_execute(self) -> Iterator[None]:
        self.execution_starts()
        yield


class _OnEntry:
    """One stage: each extension's ``*_starts`` called on entry, in order; nothing on exit
    (an exception passes through, as through a hook with nothing after its ``yield``)."""

    __slots__ = ("calls",)

    def __init__(self, calls: list[Callable[[], None]]) -> None:
        self.calls = calls

    def __enter__(self) -> None:
        for call in self.calls:
            call()

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> None:
        for call in self.calls:
            call()

    async def __aexit__(self, *exc: object) -> None:
        return None


class GuardsRunner(SchemaExtensionsRunner):
    """Strawberry's runner for a request whose extensions are all ``GuardsOnEntry``."""

    extensions: list[GuardsOnEntry]  # type: ignore[assignment]

    def operation(self) -> Any:
        return _OnEntry([e.operation_starts for e in self.extensions])

    def parsing(self) -> Any:
        return _OnEntry([e.parsing_starts for e in self.extensions])

    def validation(self) -> Any:
        return _OnEntry([e.validation_starts for e in self.extensions])

    def executing(self) -> Any:
        return _OnEntry([e.execution_starts for e in self.extensions])


def extensions_runner(
    execution_context: ExecutionContext, extensions: list[SchemaExtension]
) -> SchemaExtensionsRunner:
    """``GuardsRunner`` when every extension of the request acts only on entry, else
    Strawberry's own."""
    if all(isinstance(extension, GuardsOnEntry) for extension in extensions):
        return GuardsRunner(execution_context=execution_context, extensions=extensions)
    return SchemaExtensionsRunner(execution_context=execution_context, extensions=extensions)


# Parsed and validated documents kept per process, by query text: a client sends the same few
# queries again and again, and parsing and validating one cost more than running it.
DOCUMENTS_CACHED = 256


def request_guards(settings: Settings) -> type[GuardsOnEntry]:
    """Every guard of a request, in one extension: Strawberry enters each extension's hooks on
    every request, and seven extensions of one hook or two each cost more than the guards.

    In order: the token limit and the limits' validation rules; the document parsed and
    validated once per query text (Strawberry's ParserCache and ValidationCache, the same LRU
    caches); then the refusals of this door, each overriding the validation's errors (one
    operation chosen by name, subscriptions over a WebSocket only); and the cost limit before
    anything executes."""
    # The limits' validation rules made once, not per request: the validation cache is keyed
    # by the rules too, and new rule classes for every request would never hit it.
    limits: tuple[type[ASTValidationRule], ...] = (
        depth_validator(settings.graphql_max_depth, None, None),
        aliases_validator(settings.graphql_max_aliases),
    )
    max_tokens = settings.graphql_max_tokens
    max_cost = settings.graphql_max_cost
    parse_document = lru_cache(maxsize=DOCUMENTS_CACHED)(parse)
    costs = CostCache(DOCUMENTS_CACHED)

    # Keyed by the query text the document was parsed from (in ``parsing_starts``), not by the
    # document: graphql-core's nodes are dataclasses, hashed field by field through the whole
    # tree on every look-up (2% of a ``family(id)`` read).
    @lru_cache(maxsize=DOCUMENTS_CACHED)
    def validate(
        schema: GraphQLSchema,
        query: str,
        rules: tuple[type[ASTValidationRule], ...],
        parse_options: tuple[tuple[str, Any], ...],
    ) -> tuple[list[GraphQLError], int]:
        document = parse_document(query, **dict(parse_options))
        return validate_document(schema, document, rules), len(_operations(document))

    class RequestGuards(GuardsOnEntry):
        def operation_starts(self) -> None:
            context = self.execution_context
            context.parse_options["max_tokens"] = max_tokens
            context.validation_rules = context.validation_rules + limits

        def parsing_starts(self) -> None:
            context = self.execution_context
            context.graphql_document = parse_document(context.query, **context.parse_options)

        def validation_starts(self) -> None:
            context = self.execution_context
            if context.query is not None:
                errors, operations = validate(
                    context.schema._schema,
                    context.query,
                    context.validation_rules,
                    tuple(context.parse_options.items()),
                )
            else:  # a document given already parsed
                assert context.graphql_document is not None
                errors = validate_document(
                    context.schema._schema, context.graphql_document, context.validation_rules
                )
                operations = len(_operations(context.graphql_document))
            context.pre_execution_errors = errors
            refusal = unchosen_operation(context, operations) or subscription_over_http(context)
            if refusal is not None:
                context.pre_execution_errors = [refusal]

        def execution_starts(self) -> None:
            context = self.execution_context
            refusal = too_costly(context, max_cost, costs)
            if refusal is not None:
                context.result = refusal

    return RequestGuards
