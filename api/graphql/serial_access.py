"""One request, one database session, one statement at a time.

GraphQL resolves sibling fields concurrently, but an ``AsyncSession`` must not be used by two
tasks at once (SQLAlchemy refuses, or worse, interleaves a flush). Root fields call service
functions on the session and DataLoader batches query it; both take the request's lock. Nested
fields only read what was loaded or go through a loader, so they never hold the lock while
waiting for one (no deadlock). Each mutation also gets a savepoint, so a refused one writes
nothing even when the document's other fields succeed and the request commits."""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from graphql import GraphQLResolveInfo, OperationType
from strawberry.extensions import SchemaExtension


class SerialDatabaseAccess(SchemaExtension):
    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if info.path.prev is not None:
            return _next(root, info, *args, **kwargs)
        return self._in_turn(_next, root, info, *args, **kwargs)

    async def _in_turn(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        context = info.context  # the GraphQLContext of api/graphql/context.py
        async with context.database_turn:
            if info.operation.operation is not OperationType.MUTATION:
                result = _next(root, info, *args, **kwargs)
                return await result if isawaitable(result) else result
            # A mutation that fails leaves nothing behind: the request still commits (other
            # mutations of the document may have succeeded), so each runs in a savepoint.
            async with context.session.begin_nested():
                result = _next(root, info, *args, **kwargs)
                return await result if isawaitable(result) else result
