"""The enrichments: what an email says beyond what the store sent.

Tracking links, delivery promises, customs, carrier delays; each takes only its own
settings slice, never all of ``Settings``.
"""
