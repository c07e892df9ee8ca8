"""``aftercare catalog import FILE``: CSV (simple or Shopify's export) and Shopify /
WooCommerce product JSON, told from the content; a bad file imports nothing and says
where each problem is."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from aftercare.catalogue_import import CatalogueFileError, read_catalogue_file
from aftercare.settings import StoreFacts
from aftercare.storage.catalogue_records import catalogue_revision, load_products
from aftercare.storage.database import session_factory
from flows.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
STORE = StoreFacts()
runner = CliRunner()


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


SHOP = "https://fernandfield.example"
SIMPLE_CSV = csv_text(
    [
        ["product_id", "sku", "title", "price", "currency", "stock", "url", "image_url"]
        + ["tags", "published"],
        ["oak-spoon", "OAK-1", "Oak spoon", "12.50", "EUR", "4", f"{SHOP}/products/oak-spoon"]
        + [f"{SHOP}/oak.jpg", "kitchen, wood", "true"],
        ["gift-card", "", "Gift card", "25", "", "", f"{SHOP}/products/gift-card", "", "", ""],
        ["old-apron", "AP-0", "Old apron", "19.00", "EUR", "0", f"{SHOP}/products/old-apron"]
        + ["", "", "no"],
    ]
)

# Shopify's product export: the first row of a handle names the product, the next rows
# add variants (and a picture-only row adds nothing but the picture).
SHOPIFY_HEADER = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Published", "Option1 Name",
    "Option1 Value", "Variant SKU", "Variant Inventory Tracker", "Variant Inventory Qty",
    "Variant Inventory Policy", "Variant Price", "Image Src", "Status",
]  # fmt: skip
SHOPIFY_CSV = csv_text(
    [
        SHOPIFY_HEADER,
        ["linen-apron", "Linen apron", "<p>Soft</p>", "Fern", "Aprons", "linen, kitchen"]
        + ["TRUE", "Colour", "Sage", "AP-SAGE", "shopify", "3", "deny", "34.00"]
        + ["http://cdn.shopify.com/s/files/apron.jpg", "active"],
        ["linen-apron", "", "", "", "", "", "", "", "Rust", "AP-RUST", "shopify", "-2"]
        + ["continue", "32.00", "", ""],
        ["linen-apron"] + [""] * 13 + ["https://cdn.shopify.com/s/files/apron-2.jpg", ""],
        ["e-book", "Pickling e-book", "", "Fern", "Books", "", "TRUE", "Title", "Default"]
        + ["EB-1", "", "", "deny", "9.00", "", "active"],
        ["draft-mug", "Draft mug", "", "Fern", "", "", "TRUE", "Title", "Default", "MUG-1"]
        + ["shopify", "8", "deny", "14.00", "", "draft"],
    ]
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> tuple[str, ...]:
    with pytest.raises(CatalogueFileError) as refused:
        read_catalogue_file(path, STORE)
    assert str(path) in str(refused.value)  # the message names the file
    return refused.value.problems


# --- formats ----------------------------------------------------------------------------------


def test_the_simple_csv(tmp_path: Path) -> None:
    read = read_catalogue_file(write(tmp_path, "catalogue.csv", SIMPLE_CSV), STORE)
    assert read.format == "csv"
    products = {u.product.product_id: u.product for u in read.change.upserted}
    spoon = products["oak-spoon"]
    assert (spoon.sku, spoon.price, spoon.stock, spoon.tags) == (
        "OAK-1",
        Decimal("12.50"),
        4,
        ("kitchen", "wood"),
    )
    card = products["gift-card"]  # empty stock: not counted; empty currency: the store's
    assert card.stock is None and card.currency == STORE.default_currency and card.published
    assert card.sku == "gift-card"
    assert not products["old-apron"].published and products["old-apron"].stock == 0


def test_shopifys_product_export_one_product_per_handle(tmp_path: Path) -> None:
    read = read_catalogue_file(write(tmp_path, "products_export.csv", SHOPIFY_CSV), STORE)
    assert read.format == "shopify-csv"
    upserts = {u.product.product_id: u for u in read.change.upserted}
    assert list(upserts) == ["linen-apron", "e-book", "draft-mug"]
    apron = upserts["linen-apron"]
    assert [v.variant_id for v in apron.variants] == ["AP-SAGE", "AP-RUST"]
    assert apron.product.stock == 3  # the oversold Rust variant holds none
    assert apron.product.price == Decimal("32.00")  # the lowest, as the storefront shows
    assert apron.product.url == "https://fernandfield.example/products/linen-apron"
    assert apron.product.image_url == "https://cdn.shopify.com/s/files/apron.jpg"
    assert apron.product.tags == ("Aprons", "linen", "kitchen")
    assert upserts["e-book"].product.stock is None  # no inventory tracker: not counted
    assert not upserts["draft-mug"].product.published


def test_shopify_product_json_in_every_wrapping(tmp_path: Path) -> None:
    listed = read_catalogue_file(FIXTURES / "shopify" / "products.json", STORE)
    assert listed.format == "shopify-json"
    assert [u.product.product_id for u in listed.change.upserted] == ["1", "2", "3", "4"]
    single = read_catalogue_file(FIXTURES / "shopify" / "product.json", STORE)
    assert single.change.upserted[0].product.stock == 100
    products = json.loads((FIXTURES / "shopify" / "products.json").read_text())
    wrapped = write(tmp_path, "products.json", json.dumps({"products": products}))
    assert read_catalogue_file(wrapped, STORE).products == 4


def test_woocommerce_product_json(tmp_path: Path) -> None:
    listed = read_catalogue_file(
        FIXTURES / "woocommerce" / "products__04_list_all_products.json", STORE
    )
    assert listed.format == "woocommerce-json"
    assert [u.product.product_id for u in listed.change.upserted] == ["794"]
    (skipped,) = listed.change.skipped  # 799: a variable product without a price yet
    assert skipped.product_id == "799" and "no price" in skipped.reason
    one = read_catalogue_file(
        FIXTURES / "woocommerce" / "products__01_create_a_product.json", STORE
    )
    assert one.change.upserted[0].product.price == Decimal("21.99")


# --- bad files --------------------------------------------------------------------------------


def test_a_csv_with_bad_rows_lists_each_by_line_product_and_field(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "bad.csv",
        SIMPLE_CSV
        + ",X,No id,5,EUR,1,https://fernandfield.example/products/x,,,\n"
        + "jar,J,Jar,about five,EUR,1,https://fernandfield.example/products/jar,,,\n"
        + "tin,T,Tin,3.00,EUR,-1,https://fernandfield.example/products/tin,,,\n"
        + "mug,M,Mug,3.00,EUR,1,https://fernandfield.example/products/mug,,,maybe\n"
        + "cup,C,Cup,3.00,EUR,1,http://fernandfield.example/products/cup,,,\n"
        + "oak-spoon,OAK-1,Oak spoon again,12.50,EUR,4,https://fernandfield.example/p/o,,,\n",
    )
    problems = problems_of(bad)
    assert problems[0] == "line 5: product_id is missing"
    assert problems[1].startswith("line 6 (product jar): price is not a number")
    assert problems[2].startswith("line 7 (product tin): stock is negative")
    assert problems[3] == "line 8 (product mug): published is neither true nor false"
    assert problems[4].startswith("line 9 (product cup): url: Value error")
    assert problems[5] == "product oak-spoon appears more than once"
    assert len(problems) == 6


def test_a_bad_shopify_product_names_it_and_its_field(tmp_path: Path) -> None:
    products = json.loads((FIXTURES / "shopify" / "products.json").read_text())
    products[2]["variants"][0]["price"] = "n/a"
    del products[3]["id"]
    problems = problems_of(write(tmp_path, "p.json", json.dumps(products)))
    assert problems == (
        "[2].variants[0].price is not a number",
        "[3].id is missing",
    )


def test_a_file_of_neither_shape_says_what_it_expected(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, "x.csv", "name,cost\nspoon,3\n"))
    assert "product_id" in problem and "Shopify" in problem
    (problem,) = problems_of(write(tmp_path, "x.json", '[{"name": "spoon"}]'))
    assert "neither Shopify" in problem
    (problem,) = problems_of(write(tmp_path, "y.json", '{"products": [1, '))
    assert problem.startswith("is not valid JSON")
    (problem,) = problems_of(write(tmp_path, "empty.csv", ""))
    assert problem == "is empty"


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def workdir(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def stored(engine: Engine) -> dict[str, object]:
    with session_factory(engine)() as session:
        return {p.product_id: p for p in load_products(session)}


def test_the_command_imports_and_summarises(workdir: Path, engine: Engine) -> None:
    path = write(workdir, "catalogue.csv", SIMPLE_CSV)
    first = runner.invoke(app, ["catalog", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert set(stored(engine)) == {"oak-spoon", "gift-card", "old-apron"}
    said = " ".join(first.output.split())
    assert "added │ 3" in said and "Catalogue revision 1." in said
    again = runner.invoke(app, ["catalog", "import", str(path)])
    assert "unchanged │ 3" in " ".join(again.output.split())
    with engine.connect() as connection:
        assert catalogue_revision(connection) == 1  # nothing changed, nothing reloaded


def test_a_bad_file_imports_nothing_and_exits_non_zero(workdir: Path, engine: Engine) -> None:
    path = write(
        workdir,
        "bad.csv",
        SIMPLE_CSV + "jar,J,Jar,about five,EUR,1,https://fernandfield.example/products/jar,,,\n",
    )
    result = runner.invoke(app, ["catalog", "import", str(path)])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "bad.csv" in said and "nothing imported" in said
    assert "line 5 (product jar): price is not a number" in said
    assert stored(engine) == {}  # not even the good rows


def test_a_dry_run_writes_nothing(workdir: Path, engine: Engine) -> None:
    path = FIXTURES / "woocommerce" / "products__04_list_all_products.json"
    result = runner.invoke(app, ["catalog", "import", "--dry-run", str(path)])
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and "skipped product 799" in result.output
    assert stored(engine) == {}
