"""Error messages that never carry a value from the request (PRODUCT: no personal data in errors).

graphql-core quotes what it refused ("String cannot represent a non string value:
3328021404635102", "... not to include unknown field 'bogus', found: {...the whole input...}").
Rather than cut the value out of each wording, a message is rebuilt from structure, default-deny:

- a refused literal is named by where it sits in the document (``createFamily(input).members[0]
  .nik``), found by walking the parsed document to the refused node;
- a refused variable by its name and graphql-core's path into it (schema names and indexes only);
- the problem by a fixed phrase (``not a valid String``, ``unknown field 'bogus'``); a wording we
  do not recognise becomes ``invalid value``;
- any other message is kept only if every quoted part is a GraphQL name or punctuation and it
  has no run of digits (a NIK, a No KK, a phone number); otherwise a fixed sentence replaces it.

Names pass because GraphQL names cannot hold a space or start with a digit: never a NIK, No KK
or a full name."""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSyntaxError,
    ListValueNode,
    Node,
    ObjectFieldNode,
    ObjectValueNode,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
)
from graphql.language import Visitor, visit

from api.graphql.scalars import NOT_RUPIAH

NAME = r"[_A-Za-z][_0-9A-Za-z]*"
_IS_NAME = re.compile(rf"{NAME}\Z")
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
# Names, type references (`[String!]!`), `$variable`, `Type.field`, or punctuation.
_SAFE_QUOTED = re.compile(rf"(\$?{NAME}(\.{NAME})?|\[*{NAME}[\]!]*|[!$&():=@|{{}}\[\].]+)\Z")
_DIGITS = re.compile(r"\d{5,}")
_VARIABLE = re.compile(
    rf"Variable '\$(?:{NAME})' has invalid value"
    rf"(?: at (?P<path>(?:\.{NAME}|\[\d+\])+))?: (?P<reason>.*)\Z",
    re.S,
)

# The size limit's own sentence: its number is our setting, not the client's.
_TOO_MANY_TOKENS = re.compile(
    r"Syntax Error: Document contains more than \d+ tokens\. Parsing aborted\.\Z"
)
GENERIC = "The query is not valid; see locations."
SYNTAX = "Syntax error; see locations."
OWN_REASONS = frozenset({NOT_RUPIAH})  # our scalars' own sentences, written without the value
MARK = "_dinsos_safe"  # set on an error whose message was rebuilt here


def _kind(reason: str) -> str:
    """The problem in a fixed phrase; only names from the reason survive."""
    if reason in OWN_REASONS:
        return reason.rstrip(".")
    scalar = re.match(rf"({NAME}) cannot represent", reason)
    if scalar:
        return f"not a valid {scalar.group(1)}"
    unknown = re.search(rf"unknown field '({NAME})'", reason) or re.match(
        rf"Field '({NAME})' is not defined by type", reason
    )
    if unknown:
        return f"unknown field '{unknown.group(1)}'"
    if re.search(r"unknown field", reason) or "is not defined by type" in reason:
        return "unknown field"
    required = re.match(rf"Field '({NAME})' of required type .* was not provided", reason)
    if required:
        return f"required field '{required.group(1)}' is missing"
    if "non-nullable" in reason or "cannot be null" in reason.lower():
        return "must not be null"
    if "Enum" in reason or "enum" in reason:
        return "not one of the allowed values"
    if "Expected type" in reason and "to be an object" in reason:
        return "must be an object"
    return "invalid value"


def _value_path(value: ValueNode, target: Node) -> Iterator[str] | None:
    if value is target:
        return iter(())
    if isinstance(value, ObjectValueNode):
        for field in value.fields:
            if field is target:  # an unknown field is reported on itself
                return iter([f".{field.name.value}"])
            inner = _value_path(field.value, target)
            if inner is not None:
                return iter([f".{field.name.value}", *inner])
    if isinstance(value, ListValueNode):
        for index, item in enumerate(value.values):
            inner = _value_path(item, target)
            if inner is not None:
                return iter([f"[{index}]", *inner])
    return None


def literal_path(document: DocumentNode, target: Node) -> str | None:
    """Where a literal sits: ``field(argument)`` then the fields and indexes down to it."""
    found: list[str] = []

    class Finder(Visitor):
        def enter_field(self, node: FieldNode, *_args: object) -> object:
            for argument in node.arguments or ():
                inner = _value_path(argument.value, target)
                if inner is not None:
                    found.append(f"{node.name.value}({argument.name.value}){''.join(inner)}")
                    return Visitor.BREAK
            return None

    visit(document, Finder())
    return found[0] if found else None


def _plain(message: str) -> bool:
    if _DIGITS.search(message):
        return False
    for match in _QUOTED.finditer(message):
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        if not _SAFE_QUOTED.match(quoted):
            return False
    return True


def rebuilt_message(error: GraphQLError, document: DocumentNode | None) -> str:
    """The message a client may see for a GraphQL-level error (not a domain refusal)."""
    node = error.nodes[0] if error.nodes else None
    if isinstance(node, VariableDefinitionNode):
        name = node.variable.name.value
        parsed = _VARIABLE.match(error.message)
        if parsed is not None:
            at = f"${name}{parsed.group('path') or ''}"
            return f"Variable '{at}' has an invalid value: {_kind(parsed.group('reason'))}."
        if error.message.endswith("was not provided.") and _plain(error.message):
            return error.message  # a missing variable: no value to echo
        return f"Variable '${name}' has an invalid value."
    if isinstance(node, ValueNode | ObjectFieldNode) and not isinstance(node, VariableNode):
        where = literal_path(document, node) if document is not None else None
        kind = _kind(error.message)
        if where is None:
            return f"An argument has an invalid value: {kind}."
        return f"Argument '{where}' has an invalid value: {kind}."
    if isinstance(error, GraphQLSyntaxError):
        if _plain(error.message) or _TOO_MANY_TOKENS.match(error.message):
            return error.message
        return SYNTAX
    return error.message if _plain(error.message) else GENERIC


def make_safe(error: GraphQLError, document: DocumentNode | None) -> None:
    """Rewrite the message in place, once (the first call has the document, later ones not)."""
    extensions = error.extensions if error.extensions is not None else {}
    if extensions.get(MARK) or "code" in extensions:  # done, or written by us without values
        return
    error.message = rebuilt_message(error, document)
    error.extensions = {**extensions, MARK: True}
