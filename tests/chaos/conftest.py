"""A real receiver on loopback for the chaos tests, with the store secrets they sign with."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from aftercare.drain import Pipeline, build_pipeline
from aftercare.receiver import InboxWriter, Receiver
from aftercare.settings import Settings
from aftercare.storage.database import session_factory
from aftercare.stores.registry import build_adapters
from tests.chaos.harness import SHOPIFY_SECRET
from tests.webhook_server import running_receiver


@pytest.fixture
def chaos_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        shopify={"webhook_secret": SecretStr(SHOPIFY_SECRET), "confirm_on": "orders/create"},
        woocommerce={"webhook_secret": SecretStr("chaos-woo-secret")},
        generic={"webhook_secret": SecretStr("whsec_Y2hhb3MtZ2VuZXJpYy1zZWNyZXQ=")},
        _env_file=None,
    )


@pytest.fixture
def chaos_pipeline(chaos_settings: Settings, engine: Engine) -> Pipeline:
    return replace(build_pipeline(chaos_settings), sessions=session_factory(engine))


@pytest.fixture
def receiver_url(chaos_settings: Settings, engine: Engine) -> Iterator[str]:
    writer = InboxWriter(engine)
    receiver = Receiver(
        sessions=session_factory(engine),
        writer=writer,
        adapters=build_adapters(chaos_settings),
        nudge=lambda: None,
        max_body_bytes=chaos_settings.webhook_max_body_bytes,
    )
    try:
        with running_receiver(receiver) as url:
            yield url
    finally:
        writer.close()


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record at every level, from every logger: what a log shipper would see."""
    caplog.set_level(logging.DEBUG)
    return caplog
