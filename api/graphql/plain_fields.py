"""Plain leaf fields executed at once: the attribute read and serialised, nothing else.

Most fields of a page are plain: a scalar or enum read from an attribute of the object built by
the resolver above it (``Family.no_kk``, ``Member.birth_date``), with no resolver, no argument,
no permission and no field extension. graphql-core executes each as any other field (a resolve
info, Strawberry's resolver wrapper, the awaitable checks, the value completion), and a page of
500 families has some 25,000 of them. Here such a field is read and serialised directly, with the
same result; whatever is not plain, and any value that would make an error (a null for a non-null
field, a value the scalar refuses), takes graphql-core's own path, which reports it as before."""

from __future__ import annotations

from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


class PlainLeaf(NamedTuple):
    attribute: str
    type: GraphQLLeafType
    nullable: bool


# Per object type of a schema, per field name: how to read the field, or None when not plain.
_PLAIN: WeakKeyDictionary[GraphQLObjectType, dict[str, PlainLeaf | None]] = WeakKeyDictionary()


def plain_leaf(parent_type: GraphQLObjectType, name: str) -> PlainLeaf | None:
    known = _PLAIN.setdefault(parent_type, {})
    if name not in known:
        known[name] = _plain_leaf(parent_type, name)
    return known[name]


def _plain_leaf(parent_type: GraphQLObjectType, name: str) -> PlainLeaf | None:
    field = parent_type.fields.get(name)
    if field is None or field.args:
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if (
        not isinstance(definition, StrawberryField)
        or not definition.is_basic_field
        # Strawberry's resolver for a field without one (no exception handler around it).
        or not getattr(field.resolve, "_is_default", False)
        or definition.default_resolver is not getattr
    ):
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    leaf = field.type if nullable else field.type.of_type
    if not is_leaf_type(leaf):
        return None
    return PlainLeaf(definition.python_name, leaf, nullable)


_UNKNOWN: Any = object()


class PlainLeavesAtOnce(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The schema-wide tables of the types met, in a plain dict: a weak dictionary's lookup,
        # once per field, cost a twentieth of a page of 500 families.
        self._plain: dict[GraphQLObjectType, dict[str, PlainLeaf | None]] = {}

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        name = field_details_list[0].node.name.value
        known = self._plain.get(parent_type)
        if known is None:
            known = self._plain[parent_type] = _PLAIN.setdefault(parent_type, {})
        plain = known.get(name, _UNKNOWN)
        if plain is _UNKNOWN:
            plain = plain_leaf(parent_type, name)
        middleware = self.middleware_manager
        if plain is not None and (middleware is None or not middleware.middlewares):
            try:
                value = getattr(source, plain.attribute)
                if value is None:
                    if plain.nullable:
                        return None
                elif not isinstance(value, Exception):
                    coerced = plain.type.coerce_output_value(value)
                    if coerced is not None and coerced is not Undefined:
                        return coerced
            except Exception:  # noqa: BLE001, S110 - graphql-core's path reports it
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
