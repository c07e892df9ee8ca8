"""Customer emails and addresses stay out of logs and error records."""

from __future__ import annotations

import io
import logging

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from aftercare.events import OrderEvent
from aftercare.logging_setup import PersonalDataFilter
from aftercare.privacy import describe_error, mask_email
from aftercare.sample_store import orders
from aftercare.storage.database import make_engine


def test_a_validation_error_names_the_field_not_the_customers_input() -> None:
    data = orders.placed().model_dump(mode="json")
    data["customer"]["email"] = "grace at example dot com"
    data["order"]["shipping_address"]["line1"] = ""
    with pytest.raises(ValidationError) as info:
        OrderEvent.model_validate(data)
    described = describe_error(info.value)
    assert "customer.email" in described and "shipping_address.line1" in described
    assert "grace at example" not in described


def test_a_database_error_does_not_print_its_parameters(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (email TEXT UNIQUE)"))
        conn.execute(text("INSERT INTO t VALUES (:e)"), {"e": "ada@example.com"})
    with pytest.raises(SQLAlchemyError) as info, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:e)"), {"e": "ada@example.com"})
    assert "UNIQUE" in describe_error(info.value)
    assert "ada@example.com" not in describe_error(info.value)
    assert "ada@example.com" not in str(info.value)


def test_log_records_and_their_tracebacks_are_scrubbed_of_email_addresses() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PersonalDataFilter())
    logger = logging.getLogger("aftercare.test_privacy")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError("could not write to ada@example.com")
        except RuntimeError:
            logger.exception("failed for %s", "bob@example.org", extra={"who": "eve@example.net"})
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "RuntimeError" in output and "<email>" in output
    for address in ("ada@example.com", "bob@example.org"):
        assert address not in output


def test_masked_addresses_tell_rows_apart_without_revealing_them() -> None:
    assert mask_email("ada.lovelace@example.com") == "a***e@example.com"
    assert mask_email("jo@example.com") == "j***@example.com"
    assert mask_email("not-an-address") == "***"
