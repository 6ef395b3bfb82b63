"""Plain leaf fields executed at once: the attribute read and serialised, nothing else.

Most fields of a page are plain: a scalar or enum read from an attribute of the object built by
the resolver above it (``Family.no_kk``, ``Member.birth_date``), with no resolver, no argument,
no permission and no field extension. graphql-core executes each as any other field (a response
path, a resolve info, Strawberry's resolver wrapper, the awaitable checks, the value
completion), and a page of 500 families has some 25,000 of them. Here, in graphql-core's loop
over an object's fields (``execute_fields``), such a field is read and serialised directly, with
the same result; whatever is not plain, and any value that would make an error (a null for a
non-null field, a value the scalar refuses), takes graphql-core's own path, which reports it as
before."""

from __future__ import annotations

from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    is_leaf_type,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import Path, Undefined, gather_with_cancel
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


def plain_attribute(field: GraphQLField) -> str | None:
    """The Python attribute a field is read from when it is a plain attribute read (no
    resolver, argument, permission or field extension), else None."""
    if field.args:
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
    return definition.python_name


def _plain_leaf(parent_type: GraphQLObjectType, name: str) -> PlainLeaf | None:
    field = parent_type.fields.get(name)
    attribute = plain_attribute(field) if field is not None else None
    if field is None or attribute is None:
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    leaf = field.type if nullable else field.type.of_type
    if not is_leaf_type(leaf):
        return None
    return PlainLeaf(attribute, leaf, nullable)


_UNKNOWN: Any = object()


class PlainLeavesAtOnce(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The schema-wide tables of the types met, in a plain dict: a weak dictionary's lookup,
        # once per field, cost a twentieth of a page of 500 families.
        self._plain: dict[GraphQLObjectType, dict[str, PlainLeaf | None]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's ``execute_fields``, with the plain leaves read in the loop: no path,
        resolve info or call of their own."""
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        known = self._plain.get(parent_type)
        if known is None:
            known = self._plain[parent_type] = _PLAIN.setdefault(parent_type, {})
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                name = field_details_list[0].node.name.value
                plain = known.get(name, _UNKNOWN)
                if plain is _UNKNOWN:
                    plain = plain_leaf(parent_type, name)
                if plain is not None:
                    value = _read(plain, source_value)
                    if value is not _UNKNOWN:
                        results[response_name] = value
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


def _read(plain: PlainLeaf, source: Any) -> Any:
    """The field's value serialised, or ``_UNKNOWN`` when graphql-core's path must run: for a
    null in a non-null field, a value the scalar refuses, an attribute that fails."""
    try:
        value = getattr(source, plain.attribute)
        if value is None:
            return None if plain.nullable else _UNKNOWN
        if isinstance(value, Exception):
            return _UNKNOWN
        coerced = plain.type.coerce_output_value(value)
    except Exception:  # noqa: BLE001 - graphql-core's path reports it
        return _UNKNOWN
    return _UNKNOWN if coerced is None or coerced is Undefined else coerced
