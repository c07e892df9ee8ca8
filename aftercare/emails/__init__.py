"""The emails Aftercare sends: their kinds, what each says, and how one is composed.

``kinds/`` holds one module per email kind and the registry; ``facts`` the facts they share;
``context`` puts them together for the templates; ``slots`` types what the enrichments
hand over; ``compose`` turns a planned email into MIME bytes and the record of why.
"""

from aftercare.emails.compose import ComposedEmail, compose_email
from aftercare.emails.context import build_context
from aftercare.emails.email_kind import EmailKind, PlannedEmail
from aftercare.emails.kinds import CARRIER_TROUBLE, plan_emails
from aftercare.emails.slots import CrossSellItem, EmailExplanation, Enrichment, LikelyQuestion

__all__ = [
    "CARRIER_TROUBLE",
    "ComposedEmail",
    "CrossSellItem",
    "EmailExplanation",
    "EmailKind",
    "Enrichment",
    "LikelyQuestion",
    "PlannedEmail",
    "build_context",
    "compose_email",
    "plan_emails",
]
