"""How a GraphQL request uses the database: each root field is one unit of work on the request's
session, and nested fields read through DataLoaders, each batch in a short session of its own.

- **Root fields run one after another**, queries as well as mutations (GraphQL already runs
  mutations serially), so the request's one ``AsyncSession`` serves one of them at a time
  without a lock. A root field's nested fields finish before the next root field starts.
- **Each root field commits when its resolver returns, and rolls back when it fails.** A refused
  mutation leaves nothing behind while the document's other mutations keep their writes, and an
  audit entry for a read of unmasked personal data is durable before the response is sent.
- **Loaders take no turn on the request's session.** Each batch opens a session from
  ``app.state.read_sessions`` (the same pool as the request's in production) and closes it
  when the batch is read. A root resolver may therefore await a loader; with one session shared
  behind a lock, it held the lock that the loader waited for.
- **Read your writes.** A mutation has committed before its nested fields resolve, so the
  loaders' fresh sessions see what it wrote; the loaders are renewed after each mutation, so
  nothing cached before it is served after it.

The money mutations run their own transactions from ``app.state.sessions`` and never touch the
request's session, so they hold one connection at a time; the commit that follows them is a
no-op."""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from graphql import GraphQLResolveInfo, OperationType
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.graphql.context import GraphQLContext
from service.kpm.disclosures import IdentityConflict, keep_disclosures


class RootFieldsInTurn(StrawberryGraphQLCoreExecutionContext):
    """Executes the root fields of every operation serially, as the spec does for mutations."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        return super().execute_operation(True if serially is None else serially)


class RootFieldTransactions(SchemaExtension):
    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # A subscription reads and audits in transactions of its own (``feed.follow_changes``).
        if info.path.prev is not None or info.operation.operation is OperationType.SUBSCRIPTION:
            return _next(root, info, *args, **kwargs)
        return self._in_transaction(_next, root, info, *args, **kwargs)

    async def _in_transaction(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        context: GraphQLContext = info.context
        try:
            result = _next(root, info, *args, **kwargs)
            if isawaitable(result):
                result = await result
            await context.session.commit()
        except BaseException as failure:
            await context.session.rollback()
            if isinstance(failure, IdentityConflict) and context.request is not None:
                state = context.request.app.state
                await keep_disclosures(state.sessions, state.rate_limits, failure)
            raise
        if info.operation.operation is OperationType.MUTATION:
            context.forget_loaded()
        return result
