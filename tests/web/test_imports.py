"""Imports from the console and the API: upload a real export, follow the job, see what it added; the same file
again adds nothing; a file that is not an export fails with a clear message and writes nothing."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.web.conftest import Site, asgi_post

DATA = Path(__file__).resolve().parents[1] / "data"
TELEGRAM = DATA / "telegram" / "chat-miner" / "test_single_export.json"
WHATSAPP = DATA / "whatsapp" / "mlomb" / "4A_11M.txt"


def wait(site: Site, job: str) -> dict[str, Any]:
    c = site.client()
    for _ in range(300):
        state: dict[str, Any] = c.get(f"/api/v1/imports/{job}", headers=site.bearer("viewer")).json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"import {job} did not finish")


def upload(site: Site, path: Path, **form: str) -> dict[str, Any]:
    with path.open("rb") as f:
        r = site.client().post(
            "/api/v1/imports", files={"file": (path.name, f)}, data=form, headers=site.bearer("operator")
        )
    assert r.status_code == 202, r.text
    state: dict[str, Any] = r.json()
    assert state["status"] in ("queued", "running", "done", "failed")  # a bad file can fail before the answer
    return state


def messages(site: Site) -> int:
    with site.app.store.transaction() as conn:
        return site.app.store.events.count_by_kind(conn, site.app.ws.id).get("message", 0)


def test_an_export_imports_once_and_reports_per_group(site: Site) -> None:
    before = messages(site)
    done = wait(site, upload(site, TELEGRAM, community="读书会")["id"])
    assert done["status"] == "done", done["error"]
    report = done["report"]
    assert report["added"] > 0 and report["added"] == report["received"]
    [group] = report["groups"]
    assert group["platform"] == "telegram" and group["bound"] and group["added"]["message"] > 0
    assert messages(site) == before + group["added"]["message"]
    assert done["file"] == TELEGRAM.name and TELEGRAM.name in report["sources"][0]["name"]
    again = wait(site, upload(site, TELEGRAM, community="读书会")["id"])
    assert again["status"] == "done" and again["report"]["added"] == 0 and again["report"]["received"] > 0
    assert messages(site) == before + group["added"]["message"]
    listed = site.client().get("/api/v1/imports", headers=site.bearer("viewer")).json()
    assert [j["id"] for j in listed[:2]] == [again["id"], done["id"]]
    audit = site.client().get("/api/v1/audit", headers=site.bearer("owner")).json()
    assert [a["verb"] for a in audit if a["object_type"] == "import"][:2] == ["import.done", "import.done"]


def test_a_file_that_is_no_export_fails_clearly_and_writes_nothing(site: Site, tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("这不是聊天记录\njust some notes\n", encoding="utf-8")
    before = messages(site)
    failed = wait(site, upload(site, bad)["id"])
    assert failed["status"] == "failed" and failed["error"].startswith("notes.txt")
    assert str(tmp_path) not in failed["error"] and "/tmp/" not in failed["error"]
    assert messages(site) == before
    r = site.client().post("/api/v1/imports", files={"file": ("x.json", b"")}, headers=site.bearer("operator"))
    assert r.status_code == 422
    r = site.client().post(
        "/api/v1/imports", files={"file": ("a.txt", b"1/1/21, 12:00 - A: Hi\n")}, data={"community": "nope"},
        headers=site.bearer("operator"),
    )  # fmt: skip
    assert r.status_code == 404


def test_the_console_page_uploads_and_shows_the_report(site: Site) -> None:
    c = site.client()
    h = site.session("operator")
    page = c.get("/imports?lang=en", headers=h).text
    assert 'enctype="multipart/form-data"' in page and "Drag an export here" in page
    with WHATSAPP.open("rb") as f:
        r = c.post("/imports", files={"file": (WHATSAPP.name, f)}, data={"csrf": h["X-CSRF-Token"], "group": "老友群"},
                   headers={"Cookie": h["Cookie"]})  # fmt: skip
    assert r.status_code == 303
    job = r.headers["location"].rsplit("/", 1)[1]
    assert wait(site, job)["status"] == "done"
    report = c.get(f"/imports/{job}?lang=en", headers=h).text
    assert 'id="import-report"' in report and "老友群" in report and "not bound to a community" in report
    assert "shequn-imports-" not in report  # the server's own paths stay on the server
    assert re.search(r"<b>\d+</b><span>events added</span>", report)
    # Without the CSRF token the upload is refused.
    with WHATSAPP.open("rb") as f:
        r = c.post("/imports", files={"file": (WHATSAPP.name, f)}, headers={"Cookie": h["Cookie"]})
    assert r.status_code == 403


def test_an_upload_is_refused_before_its_body_is_read(site: Site) -> None:
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="chat.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    form = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, pulled = asgi_post(site, "/api/v1/imports", form, chunks=3200, first=head)  # 200 MiB if read
    assert status == 401 and pulled == 0
    h = site.session("operator")
    for path in ("/api/v1/imports", "/imports"):  # a session without the CSRF token: refused at the file's headers
        status, pulled = asgi_post(site, path, {**form, "Cookie": h["Cookie"]}, chunks=3200, first=head)
        assert status == 403 and pulled == 1, (path, status, pulled)
    big = {**form, **site.bearer("operator"), "Content-Length": str(5 * 2**30)}
    status, pulled = asgi_post(site, "/api/v1/imports", big, chunks=3200, first=head)
    assert status == 413 and pulled == 0
    assert not any(site.web.state.uploads.folder.rglob("chat.txt"))


def test_an_uploaded_export_nested_deeply_fails_clearly(site: Site, tmp_path: Path) -> None:
    nested = tmp_path / "result.json"
    nest = "[" * 20_000 + "]" * 20_000  # 1 GB in the server before (ijson's prefixes), and kept
    nested.write_text(
        '{"name": "g", "type": "private_group", "id": 1, "messages": [{"id": 1, "type": "message", '
        f'"date": "2020-01-01T00:00:00", "date_unixtime": "1577836800", "from": "a", "text": {nest}}}]}}',
        encoding="utf-8",
    )
    before = messages(site)
    failed = wait(site, upload(site, nested)["id"])
    assert failed["status"] == "failed" and "1024" in failed["error"], failed["error"]
    assert messages(site) == before
