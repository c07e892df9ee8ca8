"""The store's products with their stock levels.

Order events only describe what a customer bought; the cross-sell block needs to know what
else the store sells and, above all, what is in stock right now: recommending an item the
customer cannot buy turns a helpful email into a disappointing click. So a ``Product``
carries its stock count next to its price, link and picture.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aftercare.events import CurrencyCode, ShortText


def _https_url(url: str) -> str:
    """Only absolute https links: email clients warn about http, and a relative link is dead."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute https URL")
    return url


HttpsUrl = Annotated[str, AfterValidator(_https_url), Field(max_length=2000)]
Price = Annotated[Decimal, Field(gt=0, allow_inf_nan=False, max_digits=18, decimal_places=6)]


class Product(BaseModel):
    """One product as a cross-sell card shows it: title, price, picture, link and stock.

    ``price`` is in ``currency`` (Decimal: floats lose cents); ``stock`` is the number the
    store can ship today, so zero means "do not recommend", and ``None`` that the store
    does not count it (made to order, a download): always available, never "only 3 left".
    An unpublished product (a draft, archived, deleted) is kept for the orders that name it
    but never offered.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    product_id: ShortText
    sku: ShortText
    title: ShortText
    price: Price
    currency: CurrencyCode
    stock: int | None = Field(ge=0)
    url: HttpsUrl
    image_url: HttpsUrl | None = None
    tags: tuple[ShortText, ...] = ()
    published: bool = True

    @property
    def in_stock(self) -> bool:
        """Whether a cross-sell block may show this product."""
        return self.published and (self.stock is None or self.stock > 0)
