"""The application factory: both doors (REST and GraphQL) over one service layer."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api.body_limits import BodyLimits
from api.dci.async_routes import router as dci_async_router
from api.dci.router import router as dci_router
from api.docs import install_docs, page_policies
from api.edge import EdgeMiddleware
from api.graphql.router import graphql_router
from api.graphql.schema import build_schema
from api.hot_routes import HotRoutes
from api.imports import wait_for_background
from api.openapi import build_openapi
from api.problems import install_problem_handlers
from api.rest import (
    allocations,
    changes,
    disbursements,
    facilitators,
    kpm,
    kube,
    kube_grants,
    oauth,
    operations,
    programs,
    regions,
    reports,
    training,
    webhooks,
)
from service.auth.client_states import ClientStates
from service.auth.keys import token_keys
from service.auth.token_cache import TokenCache
from service.connections import asyncpg_dsn
from service.database import (
    close_statement_pool,
    create_engine,
    create_session_factory,
    create_statement_pool,
    pooled_statements,
    recycle_statement_pool,
)
from service.dci.sender_keys import SenderKeyCache
from service.dci.signatures import service_signer
from service.disbursements.reconciliation import MAX_BYTES as RECONCILIATION_MAX_BYTES
from service.kpm.import_worker import ImportWorker, stop_worker
from service.rate_limits import RateLimits
from service.settings import Settings, get_settings
from service.webhooks.dispatcher import Dispatcher

DESCRIPTION = """
Exchange of social-program data between Indonesian social-welfare offices (Dinas Sosial of
provinces and regencies) and village information systems.

**Start here.** Get a token with your client's id and secret (`POST /oauth/token`, or the
*Authorize* button with the client-credentials flow), then call the API with
`Authorization: Bearer <token>`. Every client is bound to a region: records outside it answer
404 as if they did not exist, and writes outside it answer 403.

**Conventions.** JSON fields in snake_case; lists take `limit` (default 50, at most 500) and
`cursor`, and answer `next_cursor`. Changes need `If-Match` with the `ETag` you read (412 when
someone changed the record meanwhile). Every error is `application/problem+json` with a stable
`code`, field errors in `errors[]`, and the `request_id`; send `Accept-Language: id` for
Indonesian messages. Region codes are accepted dotted or undotted and returned dotted. Request
bodies have a size limit per route (1 MB unless the route says more), above which the answer is
413 `content_too_large`, before the body is read. Requests are counted per client (and token
requests per address and client id): over the rate the answer is 429 `rate_limited` with
`Retry-After`, the seconds to wait.

GraphQL at [`/graphql`](/graphql) offers the same data with the same permissions.
"""

TAGS = [
    {"name": "auth", "description": "OAuth2 client-credentials tokens."},
    {"name": "regions", "description": "The administrative tree (reference data, ODbL)."},
    {"name": "programs", "description": "Social programs: PKH, BPNT, PK3E, KUBE and local ones."},
    {
        "name": "kpm",
        "description": "Beneficiary families (KPM): members, verification, enrollment.",
    },
    {"name": "facilitators", "description": "Field facilitators (pendamping)."},
    {"name": "reports", "description": "Region-scoped reports, as JSON or CSV."},
    {"name": "operations", "description": "Health, readiness and metrics."},
    {
        "name": "kube",
        "description": "KUBE groups (kelompok usaha bersama): member families, roles, status.",
    },
    {
        "name": "kube-grants",
        "description": "KUBE capital grants: recommendation, approval, payment, business reports.",
    },
    {
        "name": "training",
        "description": "Training cohorts: sessions, participants, attendance, completion.",
    },
    {
        "name": "allocations",
        "description": "Budget allocations per program, fiscal year, funding source and region.",
    },
    {
        "name": "disbursements",
        "description": "Payments out of allocations: single, in batches, status moves and "
        "reconciliation files. Every request that moves money needs an `Idempotency-Key`.",
    },
    {
        "name": "DCI Social Registry",
        "description": "The DCI Social Registry API 1.0.0 (SPDCI) over the same families, "
        "tokens, scopes and regions: signed envelopes `{signature, header, message}`, search "
        "by identifier or by query, transaction status. Errors in the DCI shapes, not "
        "problem+json.",
    },
    {
        "name": "changes",
        "description": "The change feed: what changed in your region, in commit order, for "
        "systems that keep a copy.",
    },
]


def body_limits(settings: Settings) -> dict[str, int]:
    """The routes whose bodies may exceed ``body_max_bytes``, and their own limits."""
    return {
        "/api/v1/disbursements/batches": settings.batch_body_max_bytes,
        "/api/v1/kpm/imports": settings.import_max_bytes,
        "/api/v1/disbursements/reconciliations": RECONCILIATION_MAX_BYTES,
    }


# The form's other parts (the operations, the map) besides the file: the parser holds each to 1 MB.
MULTIPART_ROOM = 2_000_000


def upload_limits(settings: Settings) -> dict[str, int]:
    """The multipart bodies a path takes (GraphQL's file uploads): room for its largest file."""
    return {"/graphql": max(settings.import_max_bytes, RECONCILIATION_MAX_BYTES) + MULTIPART_ROOM}


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    """``database_url`` wins over the settings; with neither, the embedded server is used."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from service.database_url import resolve_database_url

        url = database_url or resolve_database_url(settings)
        app.state.engine = create_engine(url, settings)
        app.state.sessions = create_session_factory(app.state.engine)
        # The hot reads of one statement, from asyncpg's own pool (unless a test set its own).
        statement_pool = None
        recycling = None
        if getattr(app.state, "statements", None) is None:
            statement_pool = await create_statement_pool(url, settings)
            app.state.statements = pooled_statements(statement_pool, settings)
            recycling = asyncio.create_task(recycle_statement_pool(statement_pool))
        app.state.client_states = ClientStates(asyncpg_dsn(url))
        app.state.client_states.start()
        # The DCI sender keys, remembered on the same terms as the clients.
        app.state.dci_sender_keys = SenderKeyCache(app.state.client_states)
        app.state.rate_limits.use_database(url)
        # The GraphQL loaders' short read sessions: the same pool (tests bind them apart).
        app.state.read_sessions = app.state.sessions
        # What exists now lives as long as the process: take it out of the cycle collector's
        # sight, so that requests building many objects (a batch of 10,000 payments) do not
        # rescan the whole application at every full collection.
        gc.freeze()
        # The webhook dispatcher runs here unless the operator runs it apart
        # (``DINSOS_WEBHOOK_DISPATCHER=false`` and ``dinsos worker``).
        dispatcher = Dispatcher(url, settings) if settings.webhook_dispatcher else None
        dispatching = asyncio.create_task(dispatcher.run()) if dispatcher is not None else None
        # Resumes the imports of processes that died (``service.kpm.import_worker``).
        importer = (
            ImportWorker(url, settings, engine=app.state.engine, rate_limits=app.state.rate_limits)
            if settings.import_worker
            else None
        )
        importing = asyncio.create_task(importer.run()) if importer is not None else None
        try:
            yield
        finally:
            if dispatcher is not None and dispatching is not None:
                dispatcher.stop()
                await dispatching
            if importer is not None and importing is not None:
                await stop_worker(importer, importing, settings.shutdown_grace_seconds)
            await wait_for_background(app, settings.shutdown_grace_seconds)
            await app.state.client_states.close()
            await app.state.rate_limits.close()
            signal = getattr(app.state, "change_signal", None)
            if signal is not None:
                await signal.close()
            try:
                if statement_pool is not None:
                    del app.state.statements
                    await close_statement_pool(
                        statement_pool, recycling, settings.shutdown_grace_seconds
                    )
            finally:
                await app.state.engine.dispose()

    app = FastAPI(
        title="Dinsos data exchange",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.token_keys = token_keys(settings)
    app.state.dci_signer = service_signer(settings)
    app.state.token_cache = TokenCache()
    app.state.rate_limits = RateLimits(settings)
    app.state.background_tasks = set()
    install_problem_handlers(app)
    # One pure-ASGI layer outside the exception handlers: the request id, the metrics, the
    # security headers and the body limits (a refused body is counted, its problem carries the
    # request id and the headers), and the hot reads served without the router's walk.
    app.state.body_limits = body_limits(settings)
    graphql = graphql_router(build_schema(settings))
    app.add_middleware(
        EdgeMiddleware,
        page_policies=page_policies(app),
        body_limits=BodyLimits(
            default=settings.body_max_bytes,
            limits=app.state.body_limits,
            upload_limits=upload_limits(settings),
        ),
        hot_routes=HotRoutes(
            {"getRegion": regions.serve_region, "getFamily": kpm.serve_family},
            json_posts={"/graphql": graphql.serve_json_post},
        ),
    )
    install_docs(app)
    # First: a request is matched against the routes in order, and /graphql serves one route
    # for every GraphQL request, which would otherwise be tried against every REST path first.
    app.include_router(graphql, prefix="/graphql", include_in_schema=False)
    # Then the DCI door, for the same reason: its few paths would otherwise be reached only
    # after every REST path was tried (a millisecond of a lookup by NIK).
    app.include_router(dci_router)
    app.include_router(dci_async_router)
    for router in (
        oauth.router,
        regions.router,
        programs.router,
        kpm.router,
        facilitators.router,
        reports.router,
        operations.router,
        kube.router,
        kube_grants.router,
        training.router,
        allocations.router,
        disbursements.router,
        changes.router,
        webhooks.router,
    ):
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    return app
