"""Move a rendered email's CSS onto its elements, because Gmail and Outlook ignore much of
``<style>``.

Inline styles are what every mail client honours. What cannot be inlined — the
``@media`` rules that make the layout fit a 375 px phone — stays in a ``<style>`` block,
and ``!important`` is kept (``strip_important=False``) so those rules still beat the
inline styles they override. Premailer never fetches anything: a template that links an
external stylesheet gets it ignored, not downloaded at send time.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from premailer import Premailer

# A re-send, a preview refresh or the template checker inlines the same document again;
# a few recent results are cheap to keep. A later issue inlines once per template.
_RECENT_DOCUMENTS = 32


@lru_cache(maxsize=_RECENT_DOCUMENTS)
def inline_css(html: str) -> str:
    """``html`` with its ``<style>`` rules inlined and its media queries kept."""
    return Premailer(
        html,
        strip_important=False,
        keep_style_tags=False,  # rules that could be inlined are dropped; the rest stay
        disable_leftover_css=False,  # the leftover rules are the media queries
        remove_classes=False,  # media queries select by class
        # ``height: auto`` would become an invalid ``height="auto"`` attribute on images;
        # templates set the pixel heights they need themselves.
        disable_basic_attributes=["height"],
        disable_validation=True,  # email CSS (mso-*, -webkit-*) is not "valid" CSS
        allow_network=False,
        allow_loading_external_files=False,
        cssutils_logging_level=logging.CRITICAL,
    ).transform()
