"""Hand Jinja the template files with their CSS already inlined.

``.html`` files come from the inlining plan (``template_inlining``); ``.txt`` files and
anything else come as they are on disk. The plan covers the whole folder, because one
edit to ``base.html``'s ``<style>`` changes the inlined styles of every email, so the
folder is checked for changes as a whole — at most once per ``check_interval`` seconds.
A stat per file per render would cost more than the rendering of the subject line; a
second's delay before an edited template goes live costs nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import jinja2
from jinja2.loaders import split_template_path

from aftercare.rendering.inlining import InliningPlan, build_plan

# (path relative to the folder, modification time in ns, size): changes when a file does.
_Fingerprint = tuple[tuple[str, int, int], ...]


class PreinlinedLoader(jinja2.BaseLoader):
    """Loads templates from ``templates_dir``, ``.html`` files with their CSS inlined."""

    def __init__(self, templates_dir: Path, check_interval: float = 1.0) -> None:
        self.templates_dir = Path(templates_dir).resolve()
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._fingerprint: _Fingerprint | None = None
        self._plan: InliningPlan | None = None
        self._locales: frozenset[str] = frozenset()
        self._generation = 0
        self._checked_at = float("-inf")

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.templates_dir.joinpath(*split_template_path(template))
        if not path.is_file():
            raise jinja2.TemplateNotFound(template)
        plan = self.plan()
        generation = self._generation
        source = plan.source_for(template) if template.endswith(".html") else None
        failure = plan.failure_for(template)
        if source is None and failure is not None:
            raise failure  # unreadable: say so, in the plan's words
        if source is None:
            source = path.read_text(encoding="utf-8")
        return source, str(path), lambda: self._is_current(generation)

    def raw_source(self, template: str) -> str:
        """The file as the marketer wrote it (for quoting a line in an error message)."""
        path = self.templates_dir.joinpath(*split_template_path(template))
        return path.read_text(encoding="utf-8")

    def plan(self) -> InliningPlan:
        """The inlining plan for the folder as it is now (rebuilt after an edit)."""
        self._refresh_if_due()
        assert self._plan is not None
        return self._plan

    def checked_plan(self) -> InliningPlan | None:
        """The plan if the files were looked at less than ``check_interval`` ago, else None.

        The renderer asks this once per email: no lock, no call into the refresh logic,
        and ``None`` sends it through ``plan()``, which looks at the files.
        """
        if time.monotonic() - self._checked_at < self.check_interval:
            return self._plan
        return None

    def locales(self) -> frozenset[str]:
        """The locale folders: every top-level folder but ``partials`` with an ``.html``."""
        self._refresh_if_due()
        return self._locales

    def list_templates(self) -> list[str]:
        return sorted(name for name, _, _ in self._scan_files())

    def _is_current(self, generation: int) -> bool:
        self._refresh_if_due()
        return generation == self._generation

    def _refresh_if_due(self) -> None:
        """Rebuild the plan if a file changed; looks at the files once per interval.

        The common case (checked less than ``check_interval`` ago) takes no lock: Jinja
        asks several times per email, once per template and include.
        """
        if time.monotonic() - self._checked_at < self.check_interval:
            return
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at < self.check_interval:
                return
            self._refresh(now)

    def _refresh(self, now: float) -> None:
        fingerprint = self._scan_files()
        self._checked_at = now
        if fingerprint == self._fingerprint:
            return
        sources: dict[str, str] = {}
        unreadable: dict[str, str] = {}
        for name, _, _ in fingerprint:
            if name.endswith(".html"):
                try:
                    sources[name] = self.templates_dir.joinpath(*name.split("/")).read_text(
                        encoding="utf-8"
                    )
                except (OSError, UnicodeDecodeError) as exc:
                    unreadable[name] = f"{type(exc).__name__}: {exc}"
        self._plan = build_plan(sources, unreadable)
        self._locales = frozenset(
            name.split("/", 1)[0]
            for name, _, _ in fingerprint
            if name.count("/") == 1 and name.endswith(".html") and not name.startswith("partials/")
        )
        self._fingerprint = fingerprint
        self._generation += 1

    def _scan_files(self) -> _Fingerprint:
        found = []
        for folder, _, files in os.walk(self.templates_dir):
            for file in files:
                path = Path(folder, file)
                stat = path.stat()
                name = path.relative_to(self.templates_dir).as_posix()
                found.append((name, stat.st_mtime_ns, stat.st_size))
        return tuple(sorted(found))
