"""Reading a store's JSON payload field by field, with errors that name the field.

Shared by the store adapters: every error names the path (``line_items[2].price_set``), so
an operator can fix the stored body and replay it, and never repeats a value (messages end
up in logs). Amounts stay ``Decimal`` from the JSON text on (``parse_float=Decimal``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Self

from pydantic import ValidationError

from aftercare.events import Locality, OrderEvent
from aftercare.stores import MalformedPayloadError, UnreadableDeliveryError
from aftercare.validation_errors import field_problems


def load_json(body: bytes) -> Any:
    """The body's JSON, or a 400. Nesting deeper than the parser's recursion limit is a 400
    too (it is no store's payload), not a crash: found by the hostile-input burst."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnreadableDeliveryError(f"the body is not JSON ({exc.__class__.__name__})") from None
    except RecursionError:
        raise UnreadableDeliveryError("the body's JSON is nested too deeply") from None


def validated_event(data: Mapping[str, Any], topic: str) -> OrderEvent:
    """The event, or a 422 naming each field that failed (never its value: logs keep it)."""
    try:
        return OrderEvent.model_validate(data)
    except ValidationError as exc:
        raise MalformedPayloadError(
            f"the {topic} payload does not make a valid order event: {field_problems(exc)}"
        ) from None


def locality(country: str | None, region: str | None, city: str | None) -> dict[str, Any] | None:
    """A customer's ``Locality`` from their address in the store, or None without a country
    Aftercare knows: a bad address must not refuse the welcome email, only its time zone."""
    if not country:
        return None
    try:
        return Locality(country_code=country, region=region or None, city=city or None).model_dump()
    except ValidationError:
        return None


class PayloadFields:
    """One JSON object of a payload, with the path it was read from."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise MalformedPayloadError(f"{path or 'the body'} is not a JSON object")
        self._data: dict[str, Any] = data
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> Any:
        return self._data.get(key)

    def required(self, key: str) -> Any:
        value = self._data.get(key)
        if value is None or value == "":
            raise MalformedPayloadError(f"{self.at(key)} is missing")
        return value

    def text(self, key: str) -> str | None:
        value = self._data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise MalformedPayloadError(f"{self.at(key)} is not text")
        return str(value).strip() or None

    def ident(self, key: str) -> str:
        value = self.required(key)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise MalformedPayloadError(f"{self.at(key)} is not an id")
        return str(value)

    def optional_ident(self, key: str) -> str | None:
        return None if self._data.get(key) in (None, "") else self.ident(key)

    def integer(self, key: str) -> int:
        number = self.required_decimal(key)
        if number != number.to_integral_value():
            raise MalformedPayloadError(f"{self.at(key)} is not a whole number")
        return int(number)

    def decimal(self, key: str) -> Decimal | None:
        value = self._data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise MalformedPayloadError(f"{self.at(key)} is not a number")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise MalformedPayloadError(f"{self.at(key)} is not a number") from None
        if not number.is_finite():
            raise MalformedPayloadError(f"{self.at(key)} is not a number")
        return number

    def required_decimal(self, key: str) -> Decimal:
        self.required(key)
        number = self.decimal(key)
        assert number is not None
        return number

    def child(self, key: str) -> Self | None:
        value = self._data.get(key)
        return None if value is None else type(self)(value, self.at(key))

    def children(self, key: str) -> list[Self]:
        value = self._data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise MalformedPayloadError(f"{self.at(key)} is not a list")
        return [type(self)(item, f"{self.at(key)}[{i}]") for i, item in enumerate(value)]
