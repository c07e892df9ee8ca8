"""Tracking numbers: which carrier, whether the check digit holds, and the link to send."""
