"""The cross-sell model and the cards it picks (issue 11, first part: no email yet)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from aftercare.catalogue import Product
from aftercare.enrichment.cross_sell.associations import (
    AssociationModel,
    AssociationTuning,
    build_associations,
)
from aftercare.enrichment.cross_sell.recommendations import (
    Basket,
    CrossSellRules,
    Shown,
    Source,
    recommend,
)


def _product(pid: str, price: str = "20", stock: int = 10, tags: tuple[str, ...] = ()) -> Product:
    return Product(
        product_id=pid,
        sku=f"SKU-{pid}",
        title=f"Product {pid}",
        price=Decimal(price),
        currency="EUR",
        stock=stock,
        url=f"https://shop.example/p/{pid}",
        image_url=f"https://shop.example/i/{pid}.jpg",
        tags=tags,
    )


def _history() -> list[tuple[str | None, list[str]]]:
    """Coffee is in most baskets; the dripper goes with filters, rarely with anything else."""
    rng = random.Random(7)
    baskets = []
    for _ in range(400):
        basket = ["coffee"] if rng.random() < 0.6 else []
        if rng.random() < 0.1:
            basket += ["dripper", "filters"]
        basket += rng.sample(["mug", "plate", "bowl", "spoon", "towel"], rng.randint(0, 2))
        baskets.append(basket or ["coffee"])
    return [(f"customer-{i % 150}", basket) for i, basket in enumerate(baskets)]


def test_the_model_prefers_the_specific_partner_to_the_best_seller() -> None:
    model = build_associations(_history())
    partners = [n.product_id for n in model.bought_with("dripper")]
    assert partners[0] == "filters" and model.best_sellers(1) == ("coffee",)


def test_ties_go_to_what_sells_and_customers_link_their_orders() -> None:
    """Seen together once each, the mug and the spoon tie on counts: the spoon, in more
    baskets, comes first. The kettle and the scale were never in one order, but one
    customer bought both: they are related, below a pair bought together."""
    orders: list[tuple[str | None, list[str]]] = [
        (None, ["plate", "mug"]),
        (None, ["plate", "spoon"]),
    ]
    orders += [(None, ["spoon"])] * 5
    orders += [("c0", ["kettle"]), ("c0", ["scale"])]
    orders += [(None, ["kettle", "filters"])] * 2
    model = build_associations(orders)
    assert [n.product_id for n in model.bought_with("plate")] == ["spoon", "mug"]
    assert [n.product_id for n in model.bought_with("kettle")] == ["filters", "scale"]
    assert model.bought_with("kettle")[1].together == 0


def test_pairs_seen_too_rarely_are_not_kept() -> None:
    orders = [(None, ["a", "b"]), (None, ["a", "c"]), (None, ["a", "c"])]
    model = build_associations(orders, AssociationTuning(min_evidence=2))
    assert [n.product_id for n in model.bought_with("a")] == ["c"]
    assert model.baskets == 3 and model.baskets_with["a"] == 3


def test_repeats_and_empty_baskets_do_not_count() -> None:
    model = build_associations([(None, ["a", "a", "b"]), (None, []), ("c1", ["a", "b"])])
    assert model.baskets == 2 and model.baskets_with == {"a": 2, "b": 2}
    assert model.bought_with("b")[0].together == 2


def _catalogue(**overrides: Product) -> dict[str, Product]:
    products = {
        "dripper": _product("dripper", "30", tags=("coffee-gear",)),
        "filters": _product("filters", "6", tags=("coffee-gear",)),
        "coffee": _product("coffee", "12", tags=("coffee",)),
        "mug": _product("mug", "15", tags=("tableware",)),
        "plate": _product("plate", "18", tags=("tableware",)),
        "bowl": _product("bowl", "16", tags=("tableware",)),
        "spoon": _product("spoon", "5", tags=("tableware",)),
        "towel": _product("towel", "9"),
    }
    products.update(overrides)
    return products


def test_the_order_gets_its_partner_first_and_never_what_it_holds() -> None:
    model = build_associations(_history())
    offers = recommend(Basket(["dripper"]), model, _catalogue())
    assert offers[0].product.product_id == "filters"
    assert offers[0].source is Source.BOUGHT_WITH and "dripper" in offers[0].why()
    assert "dripper" not in [o.product.product_id for o in offers] and len(offers) == 3
    assert len({o.product.product_id for o in offers}) == 3


def test_out_of_stock_and_recently_bought_are_skipped() -> None:
    model = build_associations(_history())
    catalogue = _catalogue(filters=_product("filters", "6", stock=0))
    offers = recommend(Basket(["dripper"], recently_bought={"coffee"}), model, catalogue)
    shown = [o.product.product_id for o in offers]
    assert "filters" not in shown and "coffee" not in shown and shown
    few = _catalogue(filters=_product("filters", "6", stock=2))
    rules = CrossSellRules(min_stock=3)
    assert "filters" not in [
        o.product.product_id for o in recommend(Basket(["dripper"]), model, few, rules)
    ]


def test_the_price_band_follows_the_dearest_item() -> None:
    model = build_associations(_history())
    catalogue = _catalogue(sofa=_product("sofa", "900"))
    rules = CrossSellRules(
        cards=10, min_price_ratio=Decimal("0.25"), max_price_ratio=Decimal("1.5")
    )
    shown = {
        o.product.product_id: o.product.price
        for o in recommend(Basket(["mug"]), model, catalogue, rules)
    }
    assert "sofa" not in shown and "spoon" in shown  # 900 > 22.50, 3.75 <= 5
    assert all(Decimal("3.75") <= price <= Decimal("22.5") for price in shown.values())


def test_fallbacks_category_then_overall_for_a_product_with_no_history() -> None:
    model = build_associations(_history())
    catalogue = _catalogue(newcup=_product("newcup", "14", tags=("tableware",)))
    offers = recommend(Basket(["newcup"]), model, catalogue)
    assert offers[0].source is Source.CATEGORY_BEST_SELLER and offers[0].because_of == "tableware"
    assert offers[0].product.tags == ("tableware",)
    empty = recommend(Basket(["newcup"]), build_associations([]), catalogue)
    assert [o.source for o in empty] and all(o.product.product_id != "newcup" for o in empty)


def test_no_cards_when_the_store_sets_none() -> None:
    model = build_associations(_history())
    assert recommend(Basket(["dripper"]), model, _catalogue(), CrossSellRules(cards=0)) == ()


def test_the_model_survives_its_json_and_an_unknown_version_is_refused() -> None:
    model = build_associations(_history())
    again = AssociationModel.from_json(model.to_json())
    assert again.baskets == model.baskets and again.baskets_with == model.baskets_with
    assert [n.product_id for n in again.bought_with("dripper")] == [
        n.product_id for n in model.bought_with("dripper")
    ]
    with pytest.raises(ValueError, match="version"):
        AssociationModel.from_json(b'{"version": 99}')


def test_new_orders_folded_in_rank_like_a_full_build_without_the_customer_signal() -> None:
    history = [basket for _, basket in _history()]
    tuning = AssociationTuning(customer_weight=0.0)
    built_at_once = build_associations([(None, b) for b in history], tuning)
    folded = build_associations([(None, b) for b in history[:300]], tuning).with_baskets(
        history[300:]
    )
    assert folded.baskets == built_at_once.baskets
    assert folded.baskets_with == built_at_once.baskets_with
    for product in ("dripper", "mug", "coffee"):
        assert [n.product_id for n in folded.bought_with(product)] == [
            n.product_id for n in built_at_once.bought_with(product)
        ]
        assert [round(n.score, 6) for n in folded.bought_with(product)] == [
            round(n.score, 6) for n in built_at_once.bought_with(product)
        ]


def test_a_pair_first_seen_after_the_build_is_offered() -> None:
    model = build_associations([(None, ["kettle", "filters"])] * 3)
    assert model.bought_with("teapot") == ()
    model = model.with_baskets([["teapot", "cosy"], ["teapot", "cosy", "filters"]])
    assert [n.product_id for n in model.bought_with("teapot")][:1] == ["cosy"]
    assert model.bought_with("teapot")[0].together == 2
    assert model.with_baskets([[], []]) is model  # nothing to count: the same model


def test_each_kind_shows_what_the_store_chose() -> None:
    catalogue = {p.product_id: p for p in (_product(x) for x in "abcdef")}
    model = build_associations([(None, ["a", "b"]), (None, ["a", "c"]), (None, ["d"])] * 3)
    basket = Basket(["a"], currency="EUR")
    with_order = recommend(basket, model, catalogue, shown=Shown.BOUGHT_WITH)
    assert [o.product.product_id for o in with_order][:2] == ["b", "c"]
    assert with_order[0].source is Source.BOUGHT_WITH
    best = recommend(Basket(()), model, catalogue, shown=Shown.BEST_SELLERS)
    assert {o.source for o in best} == {Source.BEST_SELLER}
    assert best[0].product.product_id == "a"
    assert recommend(basket, model, catalogue, shown=Shown.NONE) == ()
    assert CrossSellRules().show.of("order_refunded") is Shown.NONE
    assert CrossSellRules().show.of("welcome") is Shown.BEST_SELLERS


def test_another_currency_unpublished_and_untracked_stock() -> None:
    dollars = _product("b").model_copy(update={"currency": "USD"})
    hidden = _product("c").model_copy(update={"published": False})
    untracked = _product("d").model_copy(update={"stock": None})
    catalogue = {p.product_id: p for p in (_product("a"), dollars, hidden, untracked)}
    model = build_associations([(None, ["a", "b", "c", "d"])] * 2)
    offers = recommend(Basket(["a"], currency="EUR"), model, catalogue)
    assert [o.product.product_id for o in offers] == ["d"]
    assert untracked.in_stock and not hidden.in_stock


def test_the_price_band_centres_on_what_the_customer_paid() -> None:
    catalogue = {
        "cheap": _product("cheap", price="5"),
        "fit": _product("fit", price="60"),
        "dear": _product("dear", price="400"),
        "x": _product("x"),
    }
    model = build_associations([(None, ["x", "cheap", "fit", "dear"])] * 2)
    offers = recommend(Basket(["x"], currency="EUR", dearest=Decimal("100")), model, catalogue)
    assert [o.product.product_id for o in offers] == ["fit"]


def test_lines_without_a_product_id_are_left_out() -> None:
    model = build_associations([(None, ["a", None, "b", ""])])  # type: ignore[list-item]
    assert model.baskets_with == {"a": 1, "b": 1}
    assert model.with_baskets([[None, "a"]]).baskets_with == {"a": 2, "b": 1}  # type: ignore[list-item]
