"""One typed settings object: defaults, then CHATBOT_* environment variables,
then command-line flags (run.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AwareDatetime, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHATBOT_")

    host: str = "127.0.0.1"
    port: int = 8080
    db: Path = REPO_ROOT / "data" / "chatbot.db"
    database_url: str | None = Field(
        None,
        description="postgresql://user:password@host:port/name: the store on PostgreSQL instead of the SQLite "
        "file `db` (docs/deployment.md); ?synchronous_commit=off trades the last moments on a database host "
        "crash for speed",
    )
    redis_url: str | None = Field(
        None,
        description="redis://host:port/0: this process is one of a cluster; Socket.IO rooms span the processes "
        "through Redis. Needs database_url (SQLite cannot span machines)",
    )
    trusted_proxies: list[str] = Field(
        [],
        description="addresses or networks (CIDR) of the proxies in front (HAProxy): from them, the client's "
        "address is read from X-Forwarded-For (web/proxies.py); the environment variable takes a JSON list",
    )
    demo: bool = Field(True, description="seed the demo data into an empty database")
    start_time: AwareDatetime | None = Field(
        None,
        description="start the server's clock at this instant (with "
        "its UTC offset) and run on from there; None: "
        "the real time",
    )
    uploads_dir: Path | None = Field(None, description="where attachments go; default: uploads/ beside the db")
    intents_dir: Path = REPO_ROOT / "intents"
    labelled_dir: Path = Field(
        REPO_ROOT / "tests" / "data", description="labelled sets (eval format) the operator console evaluates"
    )
    static_dir: Path = REPO_ROOT / "static"
    vendor_dir: Path = REPO_ROOT / "node_modules"
    semantic: bool = Field(
        True,
        description="ask the sentence-embedding model for a second opinion on the "
        "messages the n-grams are unsure of, when its optional packages "
        "are installed (docs/nlu.md); false: the n-grams alone",
    )
    session_ttl_seconds: int = 7 * 24 * 3600
    cookie_secure: bool = False
    login_max_failures: int = 5
    login_window_seconds: int = 15 * 60
    history_limit: int = 50
    tick_seconds: float = Field(1.0, description="how often the handoff timers run; 0 turns them off (tests)")
    watch_intents: bool = Field(True, description="reload intents when their files change")
    uvloop: bool = Field(True, description="run the event loop on uvloop when it is installed (docs/benchmarks.md)")
    gc_freeze: bool = Field(
        True,
        description="after start-up, move what was loaded (intents, libraries) out of "
        "the garbage collector's sight (docs/benchmarks.md)",
    )
    websocket_compression: bool = Field(
        False, description="accept permessage-deflate on Socket.IO WebSockets (about 90 KB more per connection)"
    )
    gc_threshold: tuple[int, int, int] = Field(
        (10_000, 10, 10),
        description="gc.set_threshold for serving; the third is ignored while gc_full_seconds paces full passes",
    )
    shutdown_seconds: float = Field(
        5.0,
        description="on stopping, how long open sockets get to close, and then "
        "their connections, before aiohttp cancels them",
    )
    gc_young_seconds: float = Field(
        0.25,
        description="collect the young generations at least this often, however "
        "little was allocated; 0 leaves it to CPython "
        "(docs/benchmarks.md)",
    )
    gc_young_pause_ms: float = Field(5.0, description="... and more often when a young pass takes longer than this")
    gc_full_seconds: float = Field(
        600.0,
        description="run a full collection this often instead of by CPython's "
        "own rule; 0 leaves it to CPython (docs/benchmarks.md)",
    )
    metrics_token: str | None = Field(
        None,
        description="GET /metrics needs `Authorization: Bearer` with this token; unset, it is served to loopback only",
    )
    login_account_max_failures: int = Field(
        20,
        description="failed logins on one account, from all sources it "
        "has not logged in from, before those sources slow "
        "down (docs/security.md)",
    )
    login_max_delay_seconds: float = Field(60.0, description="the longest wait a throttled login source is given")
    socket_event_burst: int = Field(
        100, description="events one socket may send at once, valid or not; then 10 a second"
    )
    socket_strike_burst: int = Field(
        100,
        description="refused events (malformed, unknown, over a limit) one "
        "socket may send at once, then one a second, before it is "
        "disconnected",
    )

    @model_validator(mode="after")
    def _a_cluster_needs_a_server_database(self) -> Settings:
        if self.redis_url and not self.database_url:
            raise ValueError(
                "--redis (CHATBOT_REDIS_URL) runs one process of a cluster, and the processes must share one "
                "database: give --database postgresql://... (CHATBOT_DATABASE_URL) too; SQLite cannot span machines"
            )
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("--database (CHATBOT_DATABASE_URL) takes a postgresql:// URL")
        return self

    @property
    def store_location(self) -> Path | str:
        """Where the store is: the PostgreSQL URL, or the SQLite file."""
        return self.database_url or self.db

    @property
    def attachments_dir(self) -> Path:
        return self.uploads_dir or self.db.parent / "uploads"
