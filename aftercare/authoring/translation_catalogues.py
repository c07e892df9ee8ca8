"""The translators' side of the templates: extract the English sentences, keep each
language's catalogue in step, and say what is missing.

``aftercare templates extract`` writes ``email_templates/locales/messages.pot`` from every
``{% trans %}`` and ``_("…")`` in the templates (``.html`` and ``.txt``), with the file and
line of each and the ``{# Translators: … #}`` comment before it. ``aftercare templates
update --locale ru`` merges it into ``locales/ru/LC_MESSAGES/messages.po`` (created the
first time with Russian's plural rule from CLDR): new sentences come in empty, a changed
sentence keeps its old translation marked fuzzy for the translator to confirm, a removed one
is kept at the end as obsolete. Any ``.po`` editor (Poedit, Weblate, Crowdin) takes it from
there. Both are what ``pybabel extract`` / ``update`` do, with the options these templates
need, so a marketer runs one command and no Babel configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

from aftercare.errors import TemplateError
from aftercare.rendering.translations import (
    CATALOGUE_FOLDER,
    catalogue_path,
    read_catalogue,
    template_path,
)

PROJECT = "Aftercare email templates"
COMMENT_TAGS = ("Translators:",)
# The templates' own whitespace rules, and Jinja's ``trimmed`` policy the renderer sets.
_JINJA_OPTIONS = {
    "trimmed": "true",
    "newstyle_gettext": "true",
    "trim_blocks": "true",
    "lstrip_blocks": "true",
    "silent": "false",
}
_METHODS = [("**.html", "jinja2"), ("**.txt", "jinja2")]
_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!]|&[A-Za-z#][A-Za-z0-9]*;")
_WIDTH = 100


@dataclass(frozen=True)
class TranslationGap:
    """One thing a catalogue lacks or gets wrong, as the template check reports it."""

    locale: str
    msgid: str
    problem: str

    def __str__(self) -> str:
        return f"{self.locale}: {self.problem}: {self.msgid!r}"


def extract(templates_dir: Path) -> Catalog:
    """Every translatable sentence of the templates, where it stands and what it means."""
    templates_dir = Path(templates_dir)
    catalogue = Catalog(project=PROJECT, fuzzy=False, creation_date=_today())
    try:
        found = list(
            extract_from_dir(
                templates_dir,
                method_map=_METHODS,
                options_map={pattern: dict(_JINJA_OPTIONS) for pattern, _ in _METHODS},
                comment_tags=COMMENT_TAGS,
                strip_comment_tags=True,
                directory_filter=lambda path: CATALOGUE_FOLDER not in Path(path).parts,
            )
        )
    except Exception as exc:  # Jinja's syntax errors, with the file Babel was reading
        raise TemplateError(f"the templates cannot be read for translation: {exc}") from exc
    for filename, lineno, message, comments, context in found:
        catalogue.add(
            message,
            None,
            [(Path(filename).as_posix(), lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalogue


def write_template(templates_dir: Path) -> tuple[Path, int]:
    """``templates extract``: writes ``locales/messages.pot``; returns it and its size."""
    catalogue = extract(templates_dir)
    path = template_path(templates_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalogue, width=_WIDTH, sort_by_file=True)
    return path, len(catalogue)


@dataclass(frozen=True)
class UpdateResult:
    path: Path
    created: bool
    untranslated: int
    fuzzy: int


def update_locale(templates_dir: Path, locale: str) -> UpdateResult:
    """``templates update --locale X``: the catalogue of ``locale`` brought up to the
    templates (extracted afresh, so a forgotten ``extract`` cannot leave it behind)."""
    folder = _catalogue_folder_name(locale)
    template = extract(templates_dir)
    path = catalogue_path(templates_dir, folder)
    created = not path.is_file()
    if created:
        catalogue = Catalog(
            locale=folder,
            project=PROJECT,
            fuzzy=False,
            creation_date=template.creation_date,
        )
        catalogue.update(template, no_fuzzy_matching=True)
    else:
        catalogue = read_catalogue(path, folder)
        catalogue.update(template)
    catalogue.revision_date = _today()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalogue, width=_WIDTH, sort_by_file=True, include_previous=True)
    messages = [m for m in catalogue if m.id]
    return UpdateResult(
        path=path,
        created=created,
        untranslated=sum(1 for m in messages if not _translated(m.string)),
        fuzzy=sum(1 for m in messages if m.fuzzy),
    )


def gaps(templates_dir: Path, catalogues: dict[str, Catalog]) -> list[TranslationGap]:
    """What each catalogue lacks against the templates as they are now: sentences not
    translated, translations awaiting confirmation (fuzzy), markup in a translation,
    placeholders a translation broke. ``catalogues`` as the renderer loaded them."""
    template = extract(templates_dir)
    found: list[TranslationGap] = []
    for locale, catalogue in sorted(catalogues.items()):
        for wanted in template:
            if not wanted.id:
                continue
            message = catalogue.get(wanted.id, context=wanted.context)
            shown = wanted.id if isinstance(wanted.id, str) else wanted.id[0]
            if message is None or not _translated(message.string):
                found.append(TranslationGap(locale, shown, "not translated"))
            elif message.fuzzy:
                found.append(TranslationGap(locale, shown, "fuzzy (confirm the translation)"))
            elif any(_MARKUP.search(s) for s in _strings(message.string)):
                found.append(
                    TranslationGap(locale, shown, "markup in the translation (write plain text)")
                )
        for message, errors in catalogue.check():
            shown = message.id if isinstance(message.id, str) else message.id[0]
            for error in errors:
                found.append(TranslationGap(locale, shown, f"placeholders: {error}"))
    return found


def _catalogue_folder_name(locale: str) -> str:
    """``zh-CN`` → ``zh_CN``: gettext's folder names, which translation tools expect."""
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (ValueError, UnknownLocaleError) as exc:
        raise TemplateError(
            f"{locale!r} is not a locale Babel knows; write it like en, ru, th or zh-CN"
        ) from exc
    return "_".join(part for part in (parsed.language, parsed.territory) if part)


def _translated(string: str | tuple[str, ...] | None) -> bool:
    return bool(string) and all(_strings(string))  # type: ignore[arg-type]


def _strings(string: str | tuple[str, ...] | list[str]) -> Iterator[str]:
    if isinstance(string, str):
        yield string
    else:
        yield from string


def _today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
