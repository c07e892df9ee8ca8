"""``aftercare cross-sell ...``: rebuild the model now and see what it would offer.

The nightly flow rebuilds on its own; a store owner runs ``rebuild`` after importing years
of orders, and ``show PRODUCT_ID`` to see what an order with that product would be offered
and why (the same model and catalogue the emails use, in stock as it is now).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from aftercare.command_line import console, load_settings


def cross_sell_rebuild() -> None:
    """Learn which products go together from every stored order, now."""
    from aftercare.learning.cross_sell_model import rebuild_cross_sell
    from aftercare.storage.database import engine_for

    settings = load_settings()
    report = rebuild_cross_sell(engine_for(settings.database_url), datetime.now(UTC))
    console.print(
        f"Cross-sell model {report.model_id}: learned from {report.baskets} orders,"
        f" {report.products} products, in {report.seconds:.1f} s."
    )


def cross_sell_show(
    product_ids: Annotated[
        list[str], typer.Argument(help="Product ids of an order (as the store names them).")
    ],
) -> None:
    """What an order holding these products would be offered now, and why."""
    from aftercare.drain.pipeline import cross_sell_source_for
    from aftercare.enrichment.cross_sell.recommendations import Basket, recommend
    from aftercare.storage.database import engine_for, read_only

    settings = load_settings()
    source = cross_sell_source_for(settings)
    if source is None:
        console.print("Cross-sell is off (AFTERCARE_CROSS_SELL__CARDS=0).")
        return
    with read_only(engine_for(settings.database_url)) as connection:
        inputs = source.inputs_for(connection, (), datetime.now(UTC))
    if inputs is None:
        console.print("[red]No cross-sell tables[/red]: run `aftercare db upgrade`.")
        raise typer.Exit(1)
    unknown = [p for p in product_ids if p not in inputs.catalogue]
    if unknown:
        console.print(f"Not in the catalogue: {', '.join(unknown)} (priced by the order then).")
    offers = recommend(
        Basket(product_ids, currency=settings.store.default_currency),
        inputs.model,
        inputs.catalogue,
        settings.cross_sell,
    )
    if not offers:
        console.print("Nothing to offer: no product in stock fits (see the cross-sell settings).")
        return
    table = Table(title=f"Offered with {', '.join(product_ids)}")
    for column in ("product", "title", "price", "stock", "why"):
        table.add_column(column, overflow="fold")
    for offer in offers:
        p = offer.product
        stock = "not counted" if p.stock is None else str(p.stock)
        table.add_row(
            p.product_id, p.title, f"{p.price} {p.currency}", stock, _why(offer, inputs.catalogue)
        )
    console.print(table)


def _why(offer, catalogue) -> str:  # noqa: ANN001 - an Offer, the catalogue
    named = catalogue.get(offer.because_of or "")
    return offer.why(named.title if named is not None else None)
