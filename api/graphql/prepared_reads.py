"""Known reads answered without executing their document field by field.

A village system sends the same few queries again and again: ``family(id)`` with the fields it
keeps, a region by code. The general path parses and validates such a query from its caches,
then graphql-core executes it: a resolve info, a path, Strawberry's resolver wrapper and a value
completion for every field, and the extensions' stages around it all: three times the CPU of
REST's read of the same family, which makes the same service call (bench pair
``graphql-family``: 0.38x of REST's throughput before the plans).

So the first time a query text (with its operation name) reaches execution on the general path
(it has parsed, validated and passed the guards: ``RootFieldsInTurn.execute_operation`` calls
``learn_plan``), it is planned: when its operation is a query, no directive appears in it, every
root field is one of ``CONTEXT_RESOLVERS`` (a resolver that needs only the context and scalar
arguments, under ``IsAuthenticated``) and every field beneath is a plain attribute of the objects
the resolver built (``plain_fields.plain_attribute``), the plan is a tree of functions that read
those attributes and serialise them with the schema's own scalars. Every other document gets no
plan and stays on the general path.

A later request with the same text and operation name is answered from the plan: each variable
coerced by its scalar (as graphql-core does), every root field's arguments taken from them
before anything runs, then each root field's resolver, one after another, as a unit of work of
its own (``units_of_work.unit_of_work``, as on the general path), its value completed as
graphql-core completes it (a null where the type allows none, a value a scalar refuses: the
same errors at the same paths, the same nulls). Whatever the general path would refuse before
running anything (no token, a variable missing, null or refused) is left to it, so it answers
as before. ``tests/api/test_graphql_prepared_reads.py`` compares the answers of both."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLInputType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    is_leaf_type,
    located_error,
    type_from_ast,
)
from graphql.language import Visitor, visit
from graphql.pyutils import Path, Undefined, inspect, is_iterable
from graphql.utilities import coerce_input_literal, coerce_input_value
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from api.graphql import kpm_resolvers, region_resolvers
from api.graphql.context import GraphQLContext, LearnPlan
from api.graphql.permissions import IsAuthenticated
from api.graphql.plain_fields import plain_attribute
from api.graphql.units_of_work import unit_of_work

# A root resolver's work taken from the context alone, keyed by the schema's own resolver of
# the field: the plan is made only when the field still has that resolver.
CONTEXT_RESOLVERS: dict[Callable[..., Any], Callable[..., Awaitable[Any]]] = {
    kpm_resolvers.family: kpm_resolvers.family_of,
    region_resolvers.region: region_resolvers.region_of,
}

log = logging.getLogger(__name__)

# Plans kept per schema (each holds its query text): a client sends the same few queries.
PLANS_KEPT = 256

# The scalars that serialise a value of exactly this Python type as the value itself
# (graphql-core's ``serialize_string`` and ``serialize_boolean``): no call needed.
_UNCHANGED: dict[GraphQLLeafType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}

# Completes one value at one path (graphql-core's ``complete_value`` for one type and
# selection): the answer's JSON value, or an exception for graphql-core's error.
Complete = Callable[[Any, Path, list[GraphQLError]], Any]


class _Unplannable(Exception):
    """The document has something the plans do not do: it stays on the general path."""


@dataclass(frozen=True, slots=True)
class _Field:
    key: str  # the response name: the alias, else the field's name
    parent: str
    attribute: str | None  # None for __typename
    complete: Complete
    nodes: list[FieldNode]  # a list: GraphQLError takes anything else as one node
    nullable: bool
    leaf: GraphQLLeafType | None  # the scalar or enum of a field that is one (not a list)


@dataclass(frozen=True, slots=True)
class _Argument:
    python_name: str  # the resolver's name of it
    variable: str | None  # the variable that gives it, or None for a literal
    scalar: GraphQLScalarType
    value: Any  # the literal's value


@dataclass(frozen=True, slots=True)
class _RootField:
    key: str
    parent: str  # the query type's name
    node: FieldNode
    resolve: Callable[..., Awaitable[Any]]
    arguments: tuple[_Argument, ...]
    complete: Complete
    nullable: bool


def _typename(parent: str) -> Complete:
    def complete(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
        return parent

    return complete


def _value_of(field: _Field, source: Any, path: Path, errors: list[GraphQLError]) -> Any:
    """One field of an object: graphql-core's ``execute_field`` for a plain attribute."""
    field_path = Path(path, field.key, field.parent)
    try:
        value = getattr(source, field.attribute) if field.attribute is not None else None
        return field.complete(value, field_path, errors)
    except Exception as raw:  # noqa: BLE001 - reported as graphql-core reports it
        error = located_error(raw, field.nodes, field_path.as_list())
        if not field.nullable:
            raise error from None
        errors.append(error)
        return None


class _Planner:
    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = {
            variable.variable.name.value: variable
            for variable in operation.variable_definitions or ()
        }
        self.used_variables: set[str] = set()

    def fields(
        self, parent: GraphQLObjectType, selections: SelectionSetNode
    ) -> list[tuple[str, FieldNode]]:
        """The fields a selection set asks of ``parent``, fragments spread in (each response
        name once: two fields merged into one name are left to the general path)."""
        found: list[tuple[str, FieldNode]] = []
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                found.append((key, selection))
                continue
            if isinstance(selection, InlineFragmentNode):
                condition, inner = selection.type_condition, selection.selection_set
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    raise _Unplannable
                condition, inner = fragment.type_condition, fragment.selection_set
            else:
                raise _Unplannable
            if condition is not None and condition.name.value != parent.name:
                raise _Unplannable
            found.extend(self.fields(parent, inner))
        if len({key for key, _ in found}) != len(found):
            raise _Unplannable
        return found

    def object_fields(
        self, parent: GraphQLObjectType, selections: SelectionSetNode
    ) -> tuple[_Field, ...]:
        planned = []
        for key, node in self.fields(parent, selections):
            name = node.name.value
            leaf: GraphQLLeafType | None = None
            if name == "__typename":
                complete, attribute, nullable = _typename(parent.name), None, False
            else:
                definition = parent.fields.get(name)
                attribute = plain_attribute(definition) if definition is not None else None
                if definition is None or attribute is None:
                    raise _Unplannable
                complete = self.completer(definition.type, parent.name, name, node)
                nullable = not isinstance(definition.type, GraphQLNonNull)
                named = definition.type.of_type if not nullable else definition.type
                leaf = named if is_leaf_type(named) else None
            planned.append(_Field(key, parent.name, attribute, complete, [node], nullable, leaf))
        return tuple(planned)

    def completer(
        self, type_: GraphQLOutputType, parent: str, name: str, node: FieldNode
    ) -> Complete:
        """graphql-core's ``complete_value`` for a field of this type and selection."""
        if isinstance(type_, GraphQLNonNull):
            inner = self.completer(type_.of_type, parent, name, node)
            message = f"Cannot return null for non-nullable field {parent}.{name}."

            def complete_non_null(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
                completed = inner(value, path, errors)
                if completed is None:
                    raise TypeError(message)
                return completed

            return complete_non_null
        if isinstance(type_, GraphQLList):
            item = self.completer(type_.of_type, parent, name, node)
            items_nullable = not isinstance(type_.of_type, GraphQLNonNull)
            not_a_list = f"Expected Iterable, but did not find one for field '{parent}.{name}'."

            def complete_list(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
                if isinstance(value, Exception):
                    raise value
                if value is None:
                    return None
                if not is_iterable(value):
                    raise GraphQLError(not_a_list)
                completed = []
                for index, each in enumerate(value):
                    item_path = Path(path, index, None)
                    try:
                        completed.append(item(each, item_path, errors))
                    except Exception as raw:  # noqa: BLE001 - as graphql-core reports it
                        error = located_error(raw, [node], item_path.as_list())
                        if not items_nullable:
                            raise error from None
                        errors.append(error)
                        completed.append(None)
                return completed

            return complete_list
        if is_leaf_type(type_):
            leaf: Any = type_

            def complete_leaf(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
                if isinstance(value, Exception):
                    raise value
                if value is None:
                    return None
                coerced = leaf.coerce_output_value(value)
                if coerced is Undefined or coerced is None:
                    raise TypeError(
                        f"Expected `{inspect(leaf)}.coerce_output_value({inspect(value)})` to "
                        f"return non-nullable value, returned: {inspect(coerced)}"
                    )
                return coerced

            return complete_leaf
        if (
            isinstance(type_, GraphQLObjectType)
            and type_.is_type_of is None
            and node.selection_set is not None
        ):
            fields = self.object_fields(type_, node.selection_set)
            # Per field, what the loop below needs, in a tuple (a field's attributes looked up
            # one by one were a fifth of the completion): its response name, attribute, the
            # scalar's serialiser (None for a field that is no leaf), the Python type the
            # scalar hands back unchanged, if any, whether null is allowed, the field itself.
            items = tuple(
                (
                    field.key,
                    field.attribute,
                    field.leaf.coerce_output_value if field.leaf is not None else None,
                    _UNCHANGED.get(field.leaf) if field.leaf is not None else None,
                    field.nullable,
                    field,
                )
                for field in fields
            )

            def complete_object(value: Any, path: Path, errors: list[GraphQLError]) -> Any:
                if isinstance(value, Exception):
                    raise value
                if value is None:
                    return None
                completed: dict[str, Any] = {}
                for key, attribute, coerce, unchanged, nullable, field in items:
                    # Most fields are leaves with a value: read and serialised here, without a
                    # path of their own; anything graphql-core would report (a null where none
                    # may be, a value the scalar refuses) goes through ``_value_of``.
                    if coerce is not None:
                        try:
                            each = getattr(value, attribute)  # type: ignore[arg-type]
                            if each is None:
                                if nullable:
                                    completed[key] = None
                                    continue
                            elif type(each) is unchanged:
                                completed[key] = each
                                continue
                            elif not isinstance(each, Exception):
                                coerced = coerce(each)
                                if coerced is not None and coerced is not Undefined:
                                    completed[key] = coerced
                                    continue
                        except Exception:  # noqa: BLE001, S110 - reported by ``_value_of``
                            pass
                    completed[key] = _value_of(field, value, path, errors)
                return completed

            return complete_object
        raise _Unplannable  # an interface, a union, a type that checks its values

    def root_field(self, key: str, node: FieldNode) -> _RootField:
        root = self.schema.query_type
        assert root is not None
        definition = root.fields.get(node.name.value)
        strawberry_field = (
            (definition.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if definition is not None
            else None
        )
        if (
            definition is None
            or not isinstance(strawberry_field, StrawberryField)
            or strawberry_field.base_resolver is None
            or strawberry_field.permission_classes != [IsAuthenticated]
            or len(strawberry_field.extensions) != 1  # the permission's own
        ):
            raise _Unplannable
        resolver: Any = strawberry_field.base_resolver.wrapped_func
        resolve = CONTEXT_RESOLVERS.get(resolver)
        if resolve is None:
            raise _Unplannable
        return _RootField(
            key=key,
            parent=root.name,
            node=node,
            resolve=resolve,
            arguments=self.arguments(definition, strawberry_field, node),
            complete=self.completer(definition.type, root.name, node.name.value, node),
            nullable=not isinstance(definition.type, GraphQLNonNull),
        )

    def arguments(
        self, definition: GraphQLField, field: StrawberryField, node: FieldNode
    ) -> tuple[_Argument, ...]:
        """How each argument of a root field is given: every one written in the field, each a
        literal or a variable of exactly the argument's scalar type with no default. (Enums and
        input objects Strawberry converts before its resolver sees them; those, an argument left
        to its default, and a variable the root fields do not take stay on the general path.)"""
        if "limit" in definition.args:
            # The cost guard counts the pages a request asks for by its variables (limits.py):
            # a plan, learned from one request, must not answer another's page size unchecked.
            raise _Unplannable
        python_names = {
            argument.graphql_name or to_camel_case(argument.python_name): argument.python_name
            for argument in field.arguments
        }
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        if python_names.keys() != definition.args.keys() or given.keys() != python_names.keys():
            raise _Unplannable
        planned = []
        for name, argument in definition.args.items():
            scalar = _named(argument.type)
            if not isinstance(scalar, GraphQLScalarType) or isinstance(argument.type, GraphQLList):
                raise _Unplannable
            value = given[name]
            if isinstance(value, VariableNode):
                variable = self.variables.get(value.name.value)
                if (
                    variable is None
                    or variable.default_value is not None
                    or str(type_from_ast(self.schema, variable.type)) != str(argument.type)
                ):
                    raise _Unplannable
                self.used_variables.add(value.name.value)
                planned.append(_Argument(python_names[name], value.name.value, scalar, None))
                continue
            literal = coerce_input_literal(value, argument.type)
            if literal is Undefined:
                raise _Unplannable
            planned.append(_Argument(python_names[name], None, scalar, literal))
        return tuple(planned)


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


class _HasDirective(Visitor):
    found = False

    def enter_directive(self, *_: Any) -> None:
        self.found = True


def plan(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Plan | None:
    """The plan of a validated operation, or None when it stays on the general path."""
    if operation.operation is not OperationType.QUERY or schema.query_type is None:
        return None
    directives = _HasDirective()
    for node in (operation, *fragments.values()):
        visit(node, directives)
    if directives.found:  # @skip, @include, @disableErrorPropagation: the general path's
        return None
    planner = _Planner(schema, operation, fragments)
    try:
        roots = tuple(
            planner.root_field(key, node)
            for key, node in planner.fields(schema.query_type, operation.selection_set)
        )
    except _Unplannable:
        return None
    if planner.used_variables != planner.variables.keys():
        return None  # a variable no root field takes: graphql-core would still check its value
    variables = tuple(
        (name, cast(GraphQLInputType, type_from_ast(schema, planner.variables[name].type)))
        for name in sorted(planner.used_variables)
    )
    return Plan(roots, variables)


@dataclass(frozen=True, slots=True)
class Plan:
    roots: tuple[_RootField, ...]
    variables: tuple[tuple[str, GraphQLInputType], ...]  # each variable and its type

    async def answer(
        self, context: GraphQLContext, variables: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The response (``data`` and maybe ``errors``), or None for the general path to give
        it (a refusal before anything runs: no token, a variable missing, null or refused)."""
        if context.optional_caller is None:  # IsAuthenticated's refusal, worded by it
            return None
        values: dict[str, Any] = {}
        for name, type_ in self.variables:
            sent = variables.get(name)
            # No value, or a number orjson read as a float (an integer past 64 bits, which
            # Strawberry's parser keeps whole): the general path coerces it, or words the refusal.
            if sent is None or isinstance(sent, float):
                return None
            value = coerce_input_value(sent, type_)  # graphql-core's coercion of a variable
            if value is None or value is Undefined:
                return None
            values[name] = value
        data: dict[str, Any] | None = {}
        errors: list[GraphQLError] = []
        for root in self.roots:
            arguments = {
                argument.python_name: values[argument.variable]
                if argument.variable is not None
                else argument.value
                for argument in root.arguments
            }
            # The root fields in turn, each a unit of work, as ``RootFieldsInTurn`` runs them.
            path = Path(None, root.key, root.parent)
            try:
                value = await unit_of_work(
                    context,
                    partial(root.resolve, context, **arguments),
                    mutation=False,
                )
                completed = root.complete(value, path, errors)
            except Exception as raw:  # noqa: BLE001 - reported as graphql-core reports it
                errors.append(located_error(raw, [root.node], path.as_list()))
                if not root.nullable:
                    data = None
                    break
                completed = None
            assert data is not None
            data[root.key] = completed
        response: dict[str, Any] = {"data": data}
        if errors:
            response["errors"] = errors
        return response


class PreparedReads:
    """The plans of one schema's queries, by query text and the operation name sent: the most
    recently used ``PLANS_KEPT`` of them, with the query texts that have no plan (so they are
    not planned again). Mutations and subscriptions are not kept: a client writing with the
    values in the text sends a new text each time, which must not push the reads' plans out."""

    def __init__(self) -> None:
        self.plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()

    def plan_of(self, query: str, operation_name: str | None) -> Plan | None:
        key = (query, operation_name)
        found = self.plans.get(key)
        if found is not None:
            self.plans.move_to_end(key)
        return found

    def knows(self, query: str, operation_name: str | None) -> bool:
        return (query, operation_name) in self.plans

    def learner(self, query: str, operation_name: str | None) -> LearnPlan:
        def learn(
            schema: GraphQLSchema,
            operation: OperationDefinitionNode,
            fragments: dict[str, FragmentDefinitionNode],
        ) -> None:
            if operation.operation is not OperationType.QUERY:
                return
            try:
                learned = plan(schema, operation, fragments)
            except Exception:  # a planner's fault must not fail the request it learns from
                log.exception("a query could not be planned; it stays on the general path")
                learned = None
            self.plans[(query, operation_name)] = learned
            while len(self.plans) > PLANS_KEPT:
                self.plans.popitem(last=False)

        return learn
