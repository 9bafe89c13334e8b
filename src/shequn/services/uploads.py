"""Imports started from the console or the API (上传导入): one job per uploaded export, run in the background.

How it works:
    The upload is saved under the jobs folder, then a thread runs :class:`shequn.importers.Importer` on it while it
    holds the workspace's writer lock (the same path as ``shequn import``: one atomic transaction, idempotent).
    The job's state (bytes read, events, messages, the stage, then the report per group and kind, or the error) is
    a small JSON file rewritten at most every half second, so any web worker can answer a poll; the finished job is
    also written to the audit log.

Things to keep in mind:
    * The folder is per database and workspace, in the system's temporary folder; uploads are deleted when their
      import ends (the JSON stays for the listing, the newest JOBS_KEPT).
    * While an import's transaction is open, other writes wait for it (one writer per workspace).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from shequn.domain import UserError
from shequn.services.console import Operations

log = logging.getLogger("shequn.services.uploads")
JOBS_KEPT = 50
MAX_UPLOAD_BYTES = 4 * 2**30
_SAFE = re.compile(r"[^\w.\-]+")


class Uploads:
    """The import jobs of one workspace of ``ops.app``."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        app = ops.app
        tag = hashlib.blake2b(f"{app.store.db.url}|{app.ws.id}".encode(), digest_size=8).hexdigest()
        self.folder = Path(tempfile.gettempdir()) / f"shequn-imports-{tag}"
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- jobs -----------------------------------------------------------------------------------------------

    def new_upload(self, filename: str) -> tuple[str, Path]:
        """A job id and the path to save the upload to (its name kept: detection may look at the extension)."""
        job = f"{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}"
        name = _SAFE.sub("_", Path(filename or "export").name)[-120:] or "export"
        folder = self.folder / job
        folder.mkdir(mode=0o700)
        return job, folder / name

    def start(
        self,
        job: str,
        path: Path,
        *,
        original: str,
        actor: str,
        community: str | None = None,
        group: str | None = None,
        tz: str | None = None,
        fmt: str | None = None,
        mask_pii: bool = False,
        wait: bool = False,
    ) -> dict[str, Any]:
        """Check the options, then import ``path`` in a background thread (or in this one with ``wait``)."""
        if community:
            self.ops.community(community)  # a clear error now, not in the background
        try:
            zone = ZoneInfo(tz or self.ops.app.ws.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self._drop_upload(path)
            raise UserError(f"unknown time zone {tz!r} (use an IANA name such as Asia/Shanghai)", exit_code=2) from None
        state = {
            "id": job,
            "file": original,
            "size": path.stat().st_size,
            "status": "queued",
            "by": actor,
            "community": community or "",
            "started": time.time(),
            "bytes": 0,
            "events": 0,
            "messages": 0,
            "stage": "",
            "report": None,
            "error": "",
        }
        self._write(job, state)

        def run() -> None:
            self._run(job, path, state, zone=zone, community=community, group=group, fmt=fmt, mask_pii=mask_pii)

        if wait:
            run()
        else:
            threading.Thread(target=run, name=f"import-{job}", daemon=True).start()
        return state

    def _run(
        self,
        job: str,
        path: Path,
        state: dict[str, Any],
        *,
        zone: ZoneInfo,
        community: str | None,
        group: str | None,
        fmt: str | None,
        mask_pii: bool,
    ) -> None:
        from shequn.importers import Importer, Options, plan

        progress = _JobProgress(lambda: self._write(job, state), state)
        original = state["file"]
        try:
            with self.ops.write():
                state["status"] = "running"
                self._write(job, state)
                self.ops.app.refresh()
                planned, skipped = plan([path], fmt)
                importer = Importer(
                    self.ops.app, Options(tz=zone, group=group or None), community=community or None,
                    mask_pii=mask_pii, progress=progress,
                )  # fmt: skip
                report = importer.run(planned, skipped=skipped)
            state.update(status="done", report=_report(report, str(path), original), finished=time.time())
        except UserError as exc:
            state.update(status="failed", error=str(exc).replace(str(path), original), finished=time.time())
        except Exception:  # an importer's bug: the job says so; the details go to the log, not to the client
            log.exception("import %s failed", job)
            state.update(status="failed", error="internal error (see the server's log)", finished=time.time())
        finally:
            self._drop_upload(path)
            self.ops._changed()
            self._write(job, state)
            self._audit(state)
            self._prune()

    # -- reading --------------------------------------------------------------------------------------------

    def get(self, job: str) -> dict[str, Any] | None:
        if not re.fullmatch(r"[0-9]{14}-[0-9a-f]{8}", job):
            return None
        try:
            data: dict[str, Any] = orjson.loads((self.folder / f"{job}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        return data

    def list(self) -> list[dict[str, Any]]:
        """The jobs, newest first."""
        out = []
        for p in self.folder.glob("*.json"):
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                out.append(orjson.loads(p.read_bytes()))
        return sorted(out, key=lambda j: (-j.get("started", 0), j.get("id", "")))[:JOBS_KEPT]

    # -- files ----------------------------------------------------------------------------------------------

    def _write(self, job: str, state: dict[str, Any]) -> None:
        tmp = self.folder / f".{job}.json.tmp"
        tmp.write_bytes(orjson.dumps(state))
        os.replace(tmp, self.folder / f"{job}.json")  # readers never see half a file

    def _drop_upload(self, path: Path) -> None:
        shutil.rmtree(path.parent, ignore_errors=True)

    def _prune(self) -> None:
        kept = {j["id"] for j in self.list()}
        for p in self.folder.glob("*.json"):
            if p.stem not in kept:
                p.unlink(missing_ok=True)

    def _audit(self, state: dict[str, Any]) -> None:
        report = state.get("report") or {}
        with self.ops.store.transaction() as conn:
            self.ops.store.audit.record(
                conn, self.ops.ws, actor=state["by"], verb=f"import.{state['status']}", object_type="import",
                object_id=state["id"],
                detail={"file": state["file"], "added": report.get("added", 0), "error": state.get("error", "")},
                now_ms=self.ops.app.now_ms(),
            )  # fmt: skip


class _JobProgress:
    """The importer's progress, into the job's state (written at most every half second)."""

    def __init__(self, flush: Callable[[], None], state: dict[str, Any]) -> None:
        self.flush = flush
        self.state = state
        self.last = 0.0

    def _maybe(self) -> None:
        now = time.monotonic()
        if now - self.last >= 0.5:
            self.last = now
            self.flush()

    def bytes(self, n: int) -> None:
        self.state["bytes"] += n
        self._maybe()

    def events(self, n: int, messages: int) -> None:
        self.state["events"], self.state["messages"] = n, messages
        self._maybe()

    def stage(self, key: str) -> None:
        self.state["stage"] = key
        self.flush()


def _report(report: Any, path: str, original: str) -> dict[str, Any]:
    """The import's report as plain data (what the job page and the API show)."""
    return {
        "received": report.received,
        "added": report.added,
        "kinds": report.kinds(),
        "sources": [{"name": s.replace(path, original), "format": f, "events": n} for s, f, n in report.sources],
        "groups": [
            {
                "platform": g.platform,
                "id": g.id,
                "name": g.name,
                "received": g.received,
                "added": g.added,
                "bound": (g.platform, g.id) in report.bound,
            }
            for g in report.groups.values()
        ],
        "notes": [n.replace(path, original) for n in report.notes],
        "skipped": [n.replace(path, original) for n in report.skipped],
    }


__all__ = ["MAX_UPLOAD_BYTES", "Uploads"]
