"""Importers (导入): the chat exports operators already have, turned into the same events as live platforms.

Owns: one parser per format family (``whatsapp``, ``telegram``, ``discord``, ``slack``, ``matrix``, ``wechat`` for
MemoTrace/留痕 and PyWxDump, ``qq``), format detection (``detect``), masking of personal data (``pii``), streaming of
big JSON arrays (``jsonstream``) and the run that writes one import atomically into the event log (``load``).
Each parser is a function ``parse(ctx) -> Iterator[Event]`` producing :mod:`shequn.domain` events; the connectors of
live platforms and the importers of their history meet in the event log (one path for live and history).
May import: ``domain``, ``i18n``, ijson and orjson; ``load`` also drives :class:`shequn.app.App` (given to it).
"""

from shequn.importers.base import Chat, Context, ExportError, Options, Source
from shequn.importers.detect import FORMATS, Format, Planned, detect, plan
from shequn.importers.load import GroupTally, Importer, ImportReport, Progress
from shequn.importers.pii import Masker

__all__ = [
    "FORMATS",
    "Chat",
    "Context",
    "ExportError",
    "Format",
    "GroupTally",
    "ImportReport",
    "Importer",
    "Masker",
    "Options",
    "Planned",
    "Progress",
    "Source",
    "detect",
    "plan",
]
