"""``shequn bench wecom``: the chat archive's pull → event path, CPU per message.

A fake of WeCom's Finance SDK (the tests' ``fake_finance_sdk.c``, compiled with gcc) serves ``messages`` archive
entries of one customer group, each random key RSA-encrypted (2048 bit, PKCS#1 v1.5) to a key made for the run.
Measured in this process (``time.process_time``): the puller alone (``GetChatData`` pages of 1000, the RSA private
operation, ``DecryptData``, the event) into a sink that keeps nothing, then the same through ``App.ingest`` into a
SQLite workspace with the community's policies (what ``shequn run -c wecom`` does per message). The fake's
``DecryptData`` is a XOR where WeCom's is AES, so the SDK's own share is a little below a real one's.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"


@dataclass(frozen=True, slots=True)
class Figures:
    messages: int
    pull_cpu_ms_per_message: float
    ingest_cpu_ms_per_message: float
    pull_seconds: float
    ingest_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "pull_cpu_ms_per_message": round(self.pull_cpu_ms_per_message, 3),
            "ingest_cpu_ms_per_message": round(self.ingest_cpu_ms_per_message, 3),
            "pull_seconds": round(self.pull_seconds, 2),
            "ingest_seconds": round(self.ingest_seconds, 2),
        }


def _timed(puller: Any, sink: Any, bound: frozenset[str]) -> tuple[float, float]:
    from shequn.connectors.base import MemoryCursors

    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(puller.pull(sink, MemoryCursors(), bound))
    return time.process_time() - cpu, time.perf_counter() - wall


def run(messages: int = 2000) -> Figures:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.connectors.wecom import archive_fake as fake_sdk

    from shequn.app import App
    from shequn.connectors.wecom.archive import ArchivePuller, load_keys
    from shequn.connectors.wecom.finance import FinanceSDK
    from shequn.domain import Event
    from shequn.playbook.spec import parse_spec

    with tempfile.TemporaryDirectory(prefix="shequn-bench-archive-") as tmp:
        folder = Path(tmp)
        lib = fake_sdk.compile_sdk(folder)
        key = fake_sdk.new_key()
        archive = fake_sdk.FakeArchive(folder / "archive", {1: key})
        fake_sdk.set_env(archive.env(lib, {}))
        t0 = int(time.time() * 1000) - messages * 60_000
        for i in range(messages):
            archive.text(CHAT, f"wm{i % 50}", f"第{i}条：今天读完了第三章，作者的观点很有意思", msgtime=t0 + i * 60_000)
        keys = load_keys(f"1={fake_sdk.write_key(key, folder / 'v1.pem')}")
        sdk = FinanceSDK(str(lib), fake_sdk.CORP, fake_sdk.ARCHIVE_SECRET)
        bound = frozenset({CHAT})

        async def nowhere(event: Event) -> None:
            return None

        pull_cpu, pull_wall = _timed(ArchivePuller(sdk, keys, call_gap=0), nowhere, bound)
        groups = f'groups:\n  - {{platform: wecom, id: "{CHAT}"}}\n'
        spec = f"name: 读书会\ntype: growth\nthreshold: {{kind: none}}\n{groups}"
        app = App(str(folder / "w.db"))
        app.apply_spec(parse_spec(spec))

        async def ingest(event: Event) -> None:
            app.ingest([event])

        ingest_cpu, ingest_wall = _timed(ArchivePuller(sdk, keys, call_gap=0), ingest, bound)
        app.close()
        sdk.close()
    return Figures(messages, pull_cpu * 1000 / messages, ingest_cpu * 1000 / messages, pull_wall, ingest_wall)
