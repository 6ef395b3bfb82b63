"""Who commits, named once (README, "Layout"): a door never opens or commits a transaction; the
request's unit of work does (``api/deps.py`` for REST, ``api/graphql/units_of_work.py`` per root
field of GraphQL, ``cli/`` per command); a service function flushes, and only a function that
takes a session factory (a parameter ``sessions``) runs transactions of its own."""

from __future__ import annotations

import ast

from tests.conftest import PROJECT_ROOT

UNITS_OF_WORK = {"api/deps.py", "api/graphql/units_of_work.py"}
TRANSACTION_CALLS = {"begin", "commit"}


def _transactions_outside_factories(source: str) -> list[int]:
    """Lines of ``x.begin()`` / ``x.commit()`` calls not in a function that takes ``sessions``."""
    found: list[int] = []

    def visit(node: ast.AST, owns_factory: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = {a.arg for a in [*node.args.args, *node.args.kwonlyargs]}
            owns_factory = owns_factory or "sessions" in names
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in TRANSACTION_CALLS
            and not owns_factory
        ):
            found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, owns_factory)

    visit(ast.parse(source), owns_factory=False)
    return found


def test_only_units_of_work_and_session_factories_run_transactions() -> None:
    offenders = [
        f"{name}:{line}"
        for folder in ("service", "api")
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))
        if (name := str(path.relative_to(PROJECT_ROOT))) not in UNITS_OF_WORK
        for line in _transactions_outside_factories(path.read_text())
    ]
    assert offenders == []


def test_the_check_finds_a_router_that_opens_a_transaction() -> None:
    router = (
        "async def endpoint(request):\n"
        "    async with request.app.state.sessions() as session, session.begin():\n"
        "        await session.commit()\n"
        "async def queue(sessions):\n"
        "    async with sessions() as session, session.begin():\n"
        "        pass\n"
    )
    assert _transactions_outside_factories(router) == [2, 3]
