"""Which way a customer pays, from the gateway names Shopify and WooCommerce send.

Stores name their gateways freely ("Cash on Delivery (COD)", "bacs", "shopify_payments",
"ppcp-gateway", a custom "Rechnung"), and the FAQ conditions need one of a few methods
(``PaymentMethod``): a bank-transfer customer needs the bank details answered, a card
customer does not. Known names map exactly; the rest by words in them; unknown names are
``other``, never a guess that would show the wrong answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from aftercare.events import PaymentMethod

_EXACT = {
    # Shopify's gateway names (payment_gateway_names)
    "shopify_payments": PaymentMethod.CARD,
    "bogus": PaymentMethod.CARD,  # Shopify's test gateway
    "stripe": PaymentMethod.CARD,
    "paypal": PaymentMethod.PAYPAL,
    "shopify_installments": PaymentMethod.CARD,
    "gift_card": PaymentMethod.GIFT_CARD,
    "cash on delivery (cod)": PaymentMethod.COD,
    "bank deposit": PaymentMethod.BANK_TRANSFER,
    "money order": PaymentMethod.CHEQUE,
    "manual": PaymentMethod.OTHER,
    # WooCommerce's payment method ids (payment_method)
    "bacs": PaymentMethod.BANK_TRANSFER,
    "cod": PaymentMethod.COD,
    "cheque": PaymentMethod.CHEQUE,
    "ppcp-gateway": PaymentMethod.PAYPAL,
    "ppec_paypal": PaymentMethod.PAYPAL,
    "woocommerce_payments": PaymentMethod.CARD,
    "stripe_cc": PaymentMethod.CARD,
    "square_credit_card": PaymentMethod.CARD,
}

_WORDS = (
    (("cash on delivery", "nachnahme", "contre-remboursement", "contrassegno"), PaymentMethod.COD),
    (
        ("bank", "transfer", "überweisung", "ueberweisung", "virement", "sepa"),
        PaymentMethod.BANK_TRANSFER,
    ),
    (("invoice", "rechnung", "net terms", "factura", "facture"), PaymentMethod.INVOICE),
    (("paypal",), PaymentMethod.PAYPAL),
    (("card", "stripe", "adyen", "braintree", "visa", "mastercard", "klarna"), PaymentMethod.CARD),
    (("cheque", "money order"), PaymentMethod.CHEQUE),
    (("gift card", "gift_card", "gutschein"), PaymentMethod.GIFT_CARD),
)


def payment_method_of(names: Iterable[str | None]) -> PaymentMethod | None:
    """The method of the first gateway that is not a gift card, else a gift card; ``None``
    when the store names none. (An order part paid by gift card is paid the other way.)"""
    methods = [_method(name) for name in names if name and name.strip()]
    if not methods:
        return None
    return next((m for m in methods if m is not PaymentMethod.GIFT_CARD), methods[0])


def _method(name: str) -> PaymentMethod:
    key = name.strip().casefold()
    if key in _EXACT:
        return _EXACT[key]
    for words, method in _WORDS:
        if any(word in key for word in words):
            return method
    return PaymentMethod.OTHER


def payment_details(
    *, title: str | None = None, card_brand: str | None = None, card_number: str | None = None
) -> dict[str, str | None] | None:
    """What a confirmation may print about the payment, from what the store sent: the
    store's name for the method, the card's brand and its last four digits, read from the
    masked number stores send ("XXXX-XXXX-XXXX-4242", "•••• •••• •••• 4242"); ``None``
    when the store sent none of them."""
    digits = "".join(c for c in card_number or "" if c.isdigit())
    details = {
        "title": title.strip() if title and title.strip() else None,
        "card_brand": card_brand.strip() if card_brand and card_brand.strip() else None,
        "card_last_four": digits[-4:] if len(digits) >= 4 else None,
    }
    return details if any(details.values()) else None
