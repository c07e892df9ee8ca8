"""Shared fixtures: a migrated database on SQLite and on PostgreSQL for every storage test.

PostgreSQL runs on this machine (127.0.0.1:5432, trust auth). Each test run creates its own
throwaway database and drops it at the end, so parallel runs and leftovers never collide.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from aftercare.storage.database import make_engine
from aftercare.storage.schema import Base
from aftercare.storage.schema_migrations import upgrade

# Fixtures of their own modules: a moto SES server and a Prefect API, each started once.
pytest_plugins = ("tests.ses_server", "tests.prefect_api")

POSTGRES_ADMIN_URL = os.environ.get(
    "AFTERCARE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"aftercare_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the suite promises PostgreSQL coverage: fail, never skip
        pytest.fail(
            f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        )
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "aftercare.db"
    return f"sqlite:///{path}"


_migrated: dict[str, Engine] = {}


def _migrated_engine(url: str) -> Engine:
    if url not in _migrated:
        engine = make_engine(url)
        upgrade(engine)
        _migrated[url] = engine
    return _migrated[url]


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database: every test using it runs once per backend."""
    url = request.getfixturevalue(f"{request.param}_url")
    _empty(_migrated_engine(url))
    return url


@pytest.fixture
def engine(database_url: str) -> Engine:
    return _migrated_engine(database_url)


@pytest.fixture
def postgresql_engine(postgresql_url: str) -> Engine:
    """A migrated, empty PostgreSQL database, for what only a database server can do."""
    engine = _migrated_engine(postgresql_url)
    _empty(engine)
    return engine


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for engine in _migrated.values():
        engine.dispose()


@pytest.fixture
def templates_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped templates, for tests that break them on purpose."""
    from aftercare.settings import PROJECT_ROOT

    target = tmp_path / "email_templates"
    shutil.copytree(PROJECT_ROOT / "email_templates", target)
    return target


class Clock:
    """A clock a test moves by hand: ``clock.now += timedelta(days=9)``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    from aftercare.sample_store import orders

    return Clock(orders.PLACED_AT + timedelta(minutes=5))


# Signs the opt-out links of the emails tests render (long enough for opt_out.py).
TEST_LINK_SECRET = "test-suite-link-secret-0123456789abcdef"


@pytest.fixture
def clocked_pipeline(database_url: str, engine: Engine, tmp_path: Path, clock: Clock):  # noqa: ANN201
    """The real pipeline on the test database, a ``.eml`` outbox, and the hand-moved clock."""
    from dataclasses import replace

    from pydantic import SecretStr

    from aftercare.drain import build_pipeline
    from aftercare.settings import Settings
    from aftercare.storage.database import session_factory

    settings = Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        link_secret=SecretStr(TEST_LINK_SECRET),  # required on PostgreSQL for cross-sell
        _env_file=None,
    )
    return replace(build_pipeline(settings), sessions=session_factory(engine), clock=clock)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_send_window: keeps the default 08:00-21:00 send window (tests of the window)",
    )


@pytest.fixture(autouse=True)
def _send_at_any_hour(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Welcome emails and delay notices wait for the customer's daytime; a test that runs
    the pipeline at the real time of day would pass in the afternoon and fail at night.
    So every test sends at any hour, except the tests of the window itself."""
    if request.node.get_closest_marker("real_send_window") is None:
        monkeypatch.setenv("AFTERCARE_SEND_WINDOW__START", "00:00")
        monkeypatch.setenv("AFTERCARE_SEND_WINDOW__END", "00:00")
