"""The nightly cross-sell rebuild through the real Prefect engine and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from aftercare.cli import build_cli
from aftercare.drain import drain, receive_event
from aftercare.sample_store import orders
from aftercare.storage.cross_sell_models import load_newest_model
from flows.rebuild_cross_sell import rebuild_cross_sell_flow
from tests.conftest import TEST_LINK_SECRET


def _two_orders(pipeline) -> None:  # noqa: ANN001 - the clocked pipeline
    receive_event(pipeline, orders.placed())
    other = orders.placed(
        "evt-placed-2",
        customer=orders.customer(external_id="c-2", email="b@example.com"),
        external_id="o-2",
        number="#1002",
    )
    receive_event(pipeline, other)
    drain(pipeline)


@pytest.mark.prefect
def test_the_rebuild_flow_stores_a_model_of_every_order(
    prefect_api: str,
    clocked_pipeline,  # noqa: ANN001
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    _two_orders(clocked_pipeline)
    state = rebuild_cross_sell_flow(return_state=True)
    assert state.is_completed()
    result = state.result()
    assert result["baskets"] == 2 and result["products"] == 3
    with engine.connect() as connection:
        stored = load_newest_model(connection)
    assert stored is not None and stored.model_id == result["model_id"]
    partners = [n.product_id for n in stored.model.bought_with("linen-apron")]
    assert partners == ["beeswax-wraps", "enamel-mug"]
    assert stored.model.bought_with("linen-apron")[0].together == 2


def test_the_rebuild_command_says_what_it_learned(
    clocked_pipeline,  # noqa: ANN001
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    _two_orders(clocked_pipeline)
    result = CliRunner().invoke(build_cli(), ["cross-sell", "rebuild"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "2 orders" in said and "3 products" in said


def test_show_lists_what_an_order_would_be_offered(
    clocked_pipeline,  # noqa: ANN001
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aftercare.catalogue import Product
    from aftercare.storage.catalogue_records import save_products

    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("AFTERCARE_LINK_SECRET", TEST_LINK_SECRET)  # needed on PostgreSQL
    monkeypatch.chdir(tmp_path)
    _two_orders(clocked_pipeline)
    with clocked_pipeline.sessions.begin() as session:
        save_products(
            session,
            [
                Product(
                    product_id=pid,
                    sku=pid,
                    title=title,
                    price=price,
                    currency="EUR",
                    stock=stock,
                    url=f"https://fernandfield.example/products/{pid}",
                )
                for pid, title, price, stock in (
                    ("linen-apron", "Linen apron", "39", 5),
                    ("beeswax-wraps", "Beeswax wraps", "12.50", 0),
                    ("enamel-mug", "Enamel mug", "18", 7),
                )
            ],
        )
    result = CliRunner().invoke(build_cli(), ["cross-sell", "show", "linen-apron"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "enamel-mug" in said and "Linen apron (linen-apron)" in said
    assert "beeswax-wraps" not in said  # sold out
