"""The templates' words in every language: gettext catalogues, read from ``.po`` files.

One set of templates, written in English, renders every language (docs/decisions/0002):
a sentence is marked ``{% trans %}…{% endtrans %}`` and its translations live in
``email_templates/locales/<locale>/LC_MESSAGES/messages.po``, the format every translation
tool reads (Poedit, Weblate, Crowdin, Lokalise). The ``.po`` files are read directly with
Babel, not compiled to ``.mo``: nothing generated is committed or can go stale, and a
translator's edit goes live like a template edit (the loader watches the whole folder).

Fuzzy entries (a translation Babel kept for an English sentence that changed) are not
used: the customer reads the current English until a translator has confirmed it, and
``aftercare templates check`` lists them.
"""

from __future__ import annotations

import gettext
import io
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.support import NullTranslations, Translations

from aftercare.errors import TemplateError

log = logging.getLogger(__name__)

CATALOGUE_FOLDER = "locales"
DOMAIN = "messages"


def catalogue_path(templates_dir: Path, locale: str) -> Path:
    """Where ``locale``'s catalogue lives: ``locales/<locale>/LC_MESSAGES/messages.po``."""
    return Path(templates_dir, CATALOGUE_FOLDER, locale, "LC_MESSAGES", f"{DOMAIN}.po")


def template_path(templates_dir: Path) -> Path:
    """The extracted English sentences, ``locales/messages.pot``: what translators start from."""
    return Path(templates_dir, CATALOGUE_FOLDER, f"{DOMAIN}.pot")


def normalized(tag: str) -> str:
    """A locale tag as Babel writes it (``zh-CN`` → ``zh_Hans_CN``), so ``zh_CN`` folders,
    ``zh-CN`` settings and Shopify's ``zh-CN`` all name one catalogue."""
    try:
        return str(Locale.parse(tag.replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        return tag.replace("-", "_")


def lookup_chain(tag: str) -> tuple[str, ...]:
    """The catalogue names that may hold ``tag``'s words, most specific first.

    ``ru_UA`` → ``ru_UA``, ``ru_Cyrl``, ``ru``; ``zh_Hans_SG`` → ``zh_Hans_SG``, ``zh_Hans``,
    ``zh``; a bare ``zh`` reads its likely script (CLDR: Simplified). A script is never
    crossed: ``zh_Hant_TW`` does not reach a Simplified catalogue here. Whether a
    Traditional-Chinese reader gets Simplified is the store's choice, made before rendering
    (``emails.locale_choice``).
    """
    try:
        locale = Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return (tag.replace("-", "_"),)
    script = locale.script or _likely_script(str(locale)) or _likely_script(locale.language)
    parts = [str(locale)]
    if script:
        parts.append(f"{locale.language}_{script}")
    parts.append(locale.language)
    return tuple(dict.fromkeys(parts))


def _likely_script(tag: str) -> str | None:
    likely = get_global("likely_subtags").get(tag)
    if likely is None:
        return None
    parts = likely.split("_")
    return parts[1] if len(parts) > 2 else None


def _names_of(key: str) -> tuple[str, ...]:
    """The names a catalogue answers to: its own, and its language and script
    (``zh_Hans_CN`` also serves ``zh_Hans``: Singapore reads Simplified too)."""
    locale = Locale.parse(key)
    names = [key]
    if locale.script:
        names.append(f"{locale.language}_{locale.script}")
    elif not locale.territory:
        names.append(locale.language)
    return tuple(names)


@dataclass(frozen=True)
class CatalogueProblem:
    """Something a translator has to fix in one catalogue."""

    locale: str
    message: str

    def __str__(self) -> str:
        return f"{self.locale}: {self.message}"


@dataclass
class TemplateTranslations:
    """Every catalogue of one templates folder, and the lookup the templates' gettext uses.

    ``gettext`` and friends are called for every sentence of every email, so the catalogue
    for a locale tag is resolved once and kept.
    """

    catalogues: Mapping[str, Catalog] = field(default_factory=dict)
    problems: tuple[CatalogueProblem, ...] = ()
    _resolved: dict[str | None, gettext.NullTranslations] = field(default_factory=dict)
    # The templates' translations as rendered, by locale, escaping and message
    # (``rendering.renderer``): kept here, so a catalogue edit, which replaces this object,
    # drops them.
    rendered: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    @classmethod
    def load(cls, templates_dir: Path) -> TemplateTranslations:
        """Read every ``locales/<locale>/LC_MESSAGES/messages.po`` under ``templates_dir``.

        An unreadable catalogue is reported in ``problems`` (and by the check) and left out,
        so its language falls back to English instead of stopping every email.
        """
        catalogues: dict[str, Catalog] = {}
        problems: list[CatalogueProblem] = []
        for locale, path in _catalogue_files(Path(templates_dir)):
            try:
                catalogue = read_catalogue(path, locale)
            except TemplateError as exc:
                problems.append(CatalogueProblem(locale, str(exc)))
                log.warning(
                    "translation catalogue unreadable",
                    extra={"locale": locale, "problem": str(exc)},
                )
                continue
            key = normalized(locale)
            catalogues[key] = catalogue
        return cls(catalogues, tuple(problems))

    @property
    def locales(self) -> frozenset[str]:
        """The locales with a catalogue, as Babel names them (``ru``, ``zh_Hans_CN``)."""
        return frozenset(self.catalogues)

    def for_locale(self, tag: str | None) -> gettext.NullTranslations:
        """The translations an email in ``tag`` reads: its catalogue, then its language's,
        then the English of the templates themselves."""
        found = self._resolved.get(tag)
        if found is not None:
            return found
        names: dict[str, str] = {}
        for key in sorted(self.catalogues):
            for name in _names_of(key):
                names.setdefault(name, key)
        chain = list(dict.fromkeys(names[n] for n in lookup_chain(tag or "") if n in names))
        resolved: gettext.NullTranslations = NullTranslations()
        for key in reversed(chain):
            translations = _compiled(self.catalogues[key])  # its own object: its own fallback
            translations.add_fallback(resolved)
            resolved = translations
        self._resolved[tag] = resolved
        return resolved


def read_catalogue(path: Path, locale: str) -> Catalog:
    """One ``.po`` file, or a ``TemplateError`` that names the file and line."""
    try:
        with path.open("rb") as file:
            return read_po(file, locale=locale.replace("-", "_"), abort_invalid=True)
    except (OSError, UnicodeDecodeError, PoFileError, ValueError, UnknownLocaleError) as exc:
        raise TemplateError(
            f"the translation catalogue cannot be read ({exc}); fix the file or restore it"
            " with `aftercare templates update`",
            template=path.as_posix(),
        ) from exc


def _catalogue_files(templates_dir: Path) -> Iterator[tuple[str, Path]]:
    folder = templates_dir / CATALOGUE_FOLDER
    if not folder.is_dir():
        return
    for locale_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        path = catalogue_path(templates_dir, locale_dir.name)
        if path.is_file():
            yield locale_dir.name, path


def _compiled(catalogue: Catalog) -> Translations:
    """The catalogue as gettext reads it: compiled in memory, fuzzy entries left out."""
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)
