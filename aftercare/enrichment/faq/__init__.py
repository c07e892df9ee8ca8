"""The FAQ answers an email carries: the store's snippets, and which question a ticket asks.

``snippets`` reads and checks ``faq_snippets/<locale>/<id>.md`` (``markdown_body`` renders
each answer to email HTML and text, once); ``matching`` says which question a support
ticket asks, for learning how often each is asked. The matcher is imported from its own
module, not from here: it needs scikit-learn, which every drain and receiver process
would otherwise load at start-up for nothing.
"""

from aftercare.enrichment.faq.snippets import (
    InvalidSnippetsError,
    Snippet,
    SnippetLibrary,
    SnippetProblem,
    check_snippets,
    load_snippets,
)

__all__ = [
    "InvalidSnippetsError",
    "Snippet",
    "SnippetLibrary",
    "SnippetProblem",
    "check_snippets",
    "load_snippets",
]
