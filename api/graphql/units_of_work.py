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

Both happen in ``RootFieldsInTurn``, the execution context, so that only the root fields pay
for them: a schema extension's ``resolve`` hook would wrap every field's resolver (thousands for
a page of families) to act on a handful.

The money mutations run their own transactions from ``app.state.sessions`` and never touch the
request's session, so they hold one connection at a time; the commit that follows them is a
no-op."""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo, OperationType
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.execution.middleware import MiddlewareManager
from graphql.pyutils import Path, Undefined

from api.graphql.context import GraphQLContext
from api.graphql.plain_fields import PlainLeavesAtOnce
from service.kpm.disclosures import IdentityConflict, keep_disclosures


class RootFieldsInTurn(PlainLeavesAtOnce):
    """Executes the root fields of every operation serially, as the spec does for mutations,
    each root field's resolver in a unit of work of its own (the module's docstring)."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        # A document that reached execution has parsed, validated and passed the guards: the
        # prepared reads may learn it (api/graphql/prepared_reads.py).
        learn = getattr(self.context_value, "learn_plan", None)
        if learn is not None:
            learn(self.schema, self.operation, self.fragment_definitions)
        # A subscription's events come with ``serially=False``: they are left as they are.
        return super().execute_operation(True if serially is None else serially)

    def execute_root_grouped_field_set(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: GroupedFieldSet,
        serially: bool,
        position_context: Any,
    ) -> Any:
        # A subscription reads and audits in transactions of its own (``feed.follow_changes``).
        if not serially or self.operation.operation is OperationType.SUBSCRIPTION:
            return super().execute_root_grouped_field_set(
                root_type, root_value, grouped_field_set, serially, position_context
            )
        return self._root_fields_in_turn(root_type, root_value, grouped_field_set, position_context)

    async def _root_fields_in_turn(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> dict[str, Any]:
        results: dict[str, Any] = {}
        in_transaction = MiddlewareManager(
            *(self.middleware_manager.middlewares if self.middleware_manager else ()),
            _in_transaction,
        )
        for response_name, field_details_list in grouped_field_set.items():
            if self.abort_signal is not None and self.abort_signal.aborted:
                raise self.abort_error()
            # ``execute_field`` wraps the resolver with ``middleware_manager`` before anything
            # is awaited, and the field's nested fields are executed later: swapped for this
            # call alone, the transaction wraps the root resolver and nothing beneath it.
            nested = self.middleware_manager
            self.middleware_manager = in_transaction
            try:
                result = self.execute_field(
                    root_type,
                    root_value,
                    field_details_list,
                    Path(None, response_name, root_type.name),
                    position_context,
                )
            finally:
                self.middleware_manager = nested
            if result is Undefined:
                continue
            results[response_name] = await result if self.is_awaitable(result) else result
        return results


async def _in_transaction(
    _next: Callable[..., Any],
    root: Any,
    info: GraphQLResolveInfo[Any],
    *args: Any,
    **kwargs: Any,
) -> Any:
    """A root field's resolver: committed when it returns, rolled back when it fails."""
    return await unit_of_work(
        info.context,
        lambda: _next(root, info, *args, **kwargs),
        mutation=info.operation.operation is OperationType.MUTATION,
    )


async def unit_of_work(
    context: GraphQLContext, resolve: Callable[[], Any], *, mutation: bool
) -> Any:
    """Runs one root field's resolver (``resolve``) as a unit of work on the request's session:
    committed when it returns, rolled back when it fails; after a mutation the loaders start
    afresh. Also used by the prepared reads (api/graphql/prepared_reads.py)."""
    try:
        result = resolve()
        if isawaitable(result):
            result = await result
        # A root field that used no session (a read of one statement) has nothing to commit.
        if (session := context.opened_session) is not None:
            await session.commit()
    except BaseException as failure:
        if (session := context.opened_session) is not None:
            await session.rollback()
        if isinstance(failure, IdentityConflict) and context.request is not None:
            state = context.request.app.state
            await keep_disclosures(state.sessions, state.rate_limits, failure)
        raise
    if mutation:
        context.forget_loaded()
    return result
