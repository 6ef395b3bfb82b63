"""Runtime settings, read once from the environment (prefix ``DINSOS_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from limits import parse
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DINSOS_", extra="ignore")

    # No URL means: start the embedded PostgreSQL in ``data_dir``. ``DATABASE_URL`` without the
    # prefix is accepted too, because that is what every hosting platform sets.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DINSOS_DATABASE_URL", "DATABASE_URL")
    )
    data_dir: Path = Path(".data")
    # Connections per process, kept open once opened. Connections beyond the pool (overflow)
    # are closed as soon as they are returned, so a pool smaller than the requests a process
    # serves at once opens and closes connections all the time (measured: a tenth of a read's
    # cost); a burst beyond the pool waits for a connection instead.
    db_pool_size: int = 30
    db_max_overflow: int = 0
    # A second, small pool (asyncpg's own) for the hot reads of one statement, which need no
    # transaction: checking a connection out of it costs a fraction of SQLAlchemy's checkout.
    # A process holds up to ``db_pool_size + db_max_overflow + db_statement_pool_size``
    # connections, plus one that listens for client changes.
    db_statement_pool_size: int = Field(default=10, ge=1)
    # Bounded waits, so a stalled database answers 503 in seconds instead of hanging every
    # request: for a pooled connection, for a new connection, for one command's answer
    # (asyncpg ``command_timeout``), and PostgreSQL's own ``statement_timeout`` on each
    # connection (0 = off). Long work (imports, exports, the change stream) is many short
    # statements, each well under these.
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    db_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    db_command_timeout_seconds: float = Field(default=30.0, gt=0)
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)

    # Tokens. With no key configured, one is generated and kept in ``data_dir`` so tokens
    # survive a restart; several replicas must share a configured key.
    jwt_key: SecretStr | None = None
    jwt_key_id: str = "k1"
    # Keys that tokens may still be signed with after a rotation: {"k0": "old secret"}.
    jwt_previous_keys: dict[str, SecretStr] = {}
    jwt_issuer: str = "dinsos-exchange"
    jwt_audience: str = "dinsos-exchange-api"
    token_ttl_seconds: int = 900

    # Start-up behaviour of ``dinsos serve``.
    host: str = "127.0.0.1"
    port: int = 8000
    create_demo_client: bool = True
    # Load the field stories (demo data) on the first start of an empty embedded database.
    load_demo_data: bool = True
    migrate_on_start: bool = True

    # GraphQL guards against expensive queries.
    graphql_max_depth: int = 8
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = 2000
    # The sum of the page sizes one GraphQL request may ask for (api/graphql/limits.py).
    graphql_max_cost: int = 2000
    # Live change subscriptions (GraphQL over WebSocket) open at once: per client, and in all
    # on one process (each holds a WebSocket and, while reading, a pooled connection).
    graphql_max_subscriptions_per_client: int = 5
    graphql_max_subscriptions: int = 500

    # Largest accepted request body (413 above it): JSON bodies in general, and a batch of
    # disbursements (10,000 realistic items, pretty-printed, measure 3.45 MB: twice that, rounded
    # up, also fits 10,000 items with every field at its longest).
    body_max_bytes: int = 1_000_000
    batch_body_max_bytes: int = 8_000_000

    # Largest accepted import upload, and how long shutdown waits for running imports.
    import_max_bytes: int = 200_000_000
    shutdown_grace_seconds: float = 20.0
    # Import jobs left by a process that died are resumed by any process running the import
    # worker (``dinsos serve`` unless this is false, and ``dinsos worker``), which looks for
    # them this often; an upload whose process died is deleted after this long idle.
    import_worker: bool = True
    import_poll_seconds: float = Field(default=10.0, gt=0)
    import_upload_idle_seconds: float = Field(default=900.0, gt=0)

    # The change feed: how many days events are kept (``dinsos prune-changes`` removes older
    # ones), and after how many seconds a transaction holding the feed back is logged.
    change_retention_days: int = 30
    change_feed_stall_warning_seconds: float = 60.0

    # Webhooks: how long a rotated-out signing secret keeps signing beside the new one.
    webhook_secret_grace_hours: float = Field(default=24.0, ge=0)

    # Webhook delivery. The dispatcher runs inside ``dinsos serve`` unless turned off here (then run
    # ``dinsos worker``). Targets must be https and resolve to public addresses; the two
    # ``allow`` switches open that up for tests and closed networks only.
    webhook_dispatcher: bool = True
    webhook_allow_private_targets: bool = False
    webhook_allow_http: bool = False
    webhook_connect_timeout_seconds: float = 5.0
    webhook_read_timeout_seconds: float = 10.0
    webhook_write_timeout_seconds: float = 10.0
    # Failed deliveries are retried with exponential backoff and full jitter (the first wait up
    # to ``base``, doubling, each wait at most ``max``) until the window has passed since the
    # first try; then the delivery is parked and the subscription marked failing.
    webhook_retry_base_seconds: float = 10.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_retry_window_seconds: float = 25 * 3600.0
    # Deliveries read (and their audit written) at once per subscription, subscriptions sent
    # to at once per process, and the timer that catches what no notification announced.
    webhook_batch_size: int = 100
    webhook_concurrency: int = 16
    webhook_poll_seconds: float = 10.0

    # Request rates (``limits`` notation: "10/minute", "5 per second"; empty turns one off).
    # The token endpoint per client address and per client id (each attempt costs an Argon2
    # hash), every authenticated request per client, and the answers to a client that name the
    # regency of a NIK held outside its region (an oracle for guessed NIKs). Counted in this
    # process's memory unless ``rate_limit_storage`` names a shared store ("postgresql": the
    # service's own database; "redis://host:6379", "valkey://host:6379"), which several
    # replicas need to count together. The database store waits at most
    # ``rate_limit_storage_timeout_seconds`` for a count, then lets the request pass uncounted.
    rate_limit_storage: str = "memory://"
    rate_limit_storage_timeout_seconds: float = Field(default=0.5, gt=0)
    rate_limit_token_per_address: str = "30/minute"
    rate_limit_token_per_client: str = "10/minute"
    rate_limit_api_per_client: str = "10000/second"
    rate_limit_identity_disclosures_per_client: str = "20/hour"

    # The DCI Social Registry door (api/dci): this registry's id in DCI headers (``sender_id`` of
    # its answers; a request's ``receiver_id``, when sent, must be it); the Ed25519 key (PEM) it
    # signs its answers and callbacks with, generated once into ``data_dir`` when unset (several
    # replicas must share a configured one), published at /dci/.well-known/jwks.json; whether
    # every client must sign (a client with a registered key always must); how old a
    # signature's ``created`` may be.
    dci_registry_id: str = "dinsos-exchange"
    dci_signing_key: SecretStr | None = None
    dci_signing_key_id: str = "dci-1"
    dci_signatures_required: bool = False
    dci_signature_max_age_seconds: int = Field(default=300, gt=0)
    dci_max_subscriptions_per_client: int = Field(default=50, ge=0)

    # When set, ``/metrics`` answers only ``Authorization: Bearer <this token>`` (else 401).
    metrics_token: SecretStr | None = None

    log_level: str = "INFO"

    @field_validator(
        "rate_limit_token_per_address",
        "rate_limit_token_per_client",
        "rate_limit_api_per_client",
        "rate_limit_identity_disclosures_per_client",
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        if value.strip():
            parse(value)  # a ValueError names the setting at start-up, not at the first request
        return value

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None


@lru_cache
def get_settings() -> Settings:
    return Settings()
