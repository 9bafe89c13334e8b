"""Importing files into a fresh store and reading back what the log holds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from shequn.app import App
from shequn.domain import Event, Message
from shequn.importers import Importer, ImportReport, Options, plan

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Imported:
    app: App
    report: ImportReport
    events: list[Event]

    def messages(self, *, system: bool = False) -> list[Message]:
        return [e for e in self.events if isinstance(e, Message) and (system or e.content.value != "system")]

    def kinds(self) -> Counter[str]:
        return Counter(e.kind.value for e in self.events)

    def contents(self) -> Counter[str]:
        return Counter(e.content.value for e in self.events if isinstance(e, Message))

    def authors(self) -> set[str]:
        return {m.actor for m in self.messages() if m.actor}

    def replies(self) -> int:
        return sum(1 for m in self.messages() if m.reply_to)


def run(
    app: App,
    paths: Sequence[Path],
    *,
    tz: str = "UTC",
    group: str | None = None,
    community: str | None = None,
    mask_pii: bool = False,
    fmt: str | None = None,
) -> ImportReport:
    planned, skipped = plan(list(paths), fmt)
    importer = Importer(app, Options(tz=ZoneInfo(tz), group=group), community=community, mask_pii=mask_pii)
    return importer.run(planned, skipped=skipped)


def import_files(url: str, *paths: Path, **kwargs: object) -> Imported:
    app = App(url)
    report = run(app, paths, **kwargs)  # type: ignore[arg-type]
    return Imported(app, report, list(app.events()))
