"""shequn (社群): run chat communities the way the methodology describes.

Packages follow the data flow (see ``docs/architecture.md``)::

    connectors / importers ─events─▶ store (event log) ─▶ engine (policies) ─actions─▶ outbox ─▶ connectors
                                                     └──▶ analytics ─▶ reports / web

Inner packages never import outer ones: ``domain`` ← ``i18n``/``playbook``/``policies`` ← ``engine`` ←
``schedule``/``outbox``/``store`` ← ``connectors``/``importers``/``simulator``/``analytics``/``reports``/``web``
← ``cli`` (``tests/test_layers.py`` enforces it).
"""

__version__ = "0.1.0"
