"""``aftercare track NUMBER``: what a tracking number is and which link an email would give."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from aftercare.cli import build_cli

runner = CliRunner()
# The domain's own command line: ``track`` needs no Prefect flow.
app = build_cli()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout


def test_track_names_the_carrier_format_check_digit_and_link() -> None:
    result = runner.invoke(app, ["track", "1z 999 aa1 01 2345 6784"])
    assert result.exit_code == 0, result.output
    assert "UPS" in result.output
    assert "valid (mod10 (UPS))" in result.output
    assert (
        "Link (carrier, read as UPS): "
        "https://wwwapps.ups.com/WebTracking/track?track=yes&trackNums=1Z999AA10123456784"
    ) in result.output


def test_track_shows_an_s10_items_origin_country() -> None:
    result = runner.invoke(app, ["track", "RB123456785GB"])
    assert result.exit_code == 0, result.output
    assert "UPU S10, registered letter" in result.output
    assert "GB" in result.output
    assert "Link (universal, read as International post (UPU S10)): " in result.output


def test_track_honours_the_store_carrier_name() -> None:
    result = runner.invoke(app, ["track", "0307 1790 0005 2348 3741", "--carrier", "DHL"])
    assert result.exit_code == 0, result.output
    assert "Link (universal): https://t.17track.net/en#nums=03071790000523483741" in result.output


def test_track_says_so_when_nothing_fits_and_exits_with_1() -> None:
    result = runner.invoke(app, ["track", "[red]<script>alert(1)</script>"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "No carrier format fits this number." in result.output
    assert "No link" in result.output
