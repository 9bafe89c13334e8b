"""``/api/v1/imports``: upload a chat export, follow its import, see what it added.

The upload is streamed to disk by :func:`receive_upload` (python-multipart's streaming parser, which FastAPI uses
under its forms), not parsed by FastAPI before the route runs: FastAPI reads a form body before it checks the
route's dependencies, so a ``File()`` parameter meant that any anonymous client could make the server write
gigabytes to disk before its 401."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, BinaryIO, cast

from fastapi import APIRouter, HTTPException, Path, Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from shequn.services.accounts import Principal, same
from shequn.services.uploads import MAX_UPLOAD_BYTES, Uploads
from shequn.web.deps import Reader, Writer
from shequn.web.schemas import ImportJobOut

router = APIRouter(tags=["imports"])
JobId = Path(pattern=r"^[0-9]{14}-[0-9a-f]{8}$")
FIELDS = ("community", "group", "tz", "format", "mask_pii", "csrf")
FIELD_MAX = 1024  # bytes of one form field (the longest, a group name, may have 200 characters)


@dataclass(slots=True)
class Upload:
    """An upload saved to a new job's folder, with the form's other fields."""

    job: str
    path: FilePath
    filename: str
    fields: dict[str, str] = field(default_factory=dict)

    def flag(self, name: str) -> bool:
        return self.fields.get(name, "").lower() in ("1", "true", "on", "yes")


async def receive_upload(request: Request, principal: Principal) -> Upload:
    """Stream a ``multipart/form-data`` upload (one ``file`` and the small fields of :data:`FIELDS`) into a new
    job's folder. Runs after the route's authorization, so an anonymous request is refused (401) before one byte of
    its body is read; a declared length over the limit is refused before reading too, and the stream is cut as soon
    as it passes the limit. A session (cookie) without ``X-CSRF-Token`` must send the ``csrf`` field before the file
    (the console's form does): the file is not written until the token is checked."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + (1 << 20):
        raise HTTPException(413, f"an export may have at most {MAX_UPLOAD_BYTES >> 30} GiB")
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise HTTPException(422, "send the export as multipart/form-data with a file field")
    need_csrf = principal.session is not None and not request.headers.get("x-csrf-token")
    uploads: Uploads = request.app.state.uploads
    form = _Form(uploads, principal, need_csrf)
    parser = MultipartParser(boundary, cast(Any, form.callbacks()))
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        upload = form.result()
    except BaseException:
        form.drop()
        raise
    return upload


class _Form:
    """The callbacks of python-multipart's streaming parser: small fields kept, the file written as it comes."""

    def __init__(self, uploads: Uploads, principal: Principal, need_csrf: bool) -> None:
        self.uploads = uploads
        self.principal = principal
        self.need_csrf = need_csrf
        self.fields: dict[str, str] = {}
        self.upload: Upload | None = None
        self._out: BinaryIO | None = None
        self._size = 0
        self._name = ""
        self._value = bytearray()
        self._header = bytearray()
        self._header_value = bytearray()
        self._disposition = b""

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, a, b: self._header.extend(d[a:b]),
            "on_header_value": lambda d, a, b: self._header_value.extend(d[a:b]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._disposition = b""
        self._value.clear()

    def _header_end(self) -> None:
        if bytes(self._header).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is None:
            return
        if self._name != "file" or self.upload is not None:
            raise HTTPException(422, "send exactly one file, in the field named file")
        if self.need_csrf and not same(self.fields.get("csrf", ""), self.principal.session.csrf):  # type: ignore[union-attr]
            raise HTTPException(403, "csrf")
        original = filename.decode("utf-8", "replace") or "export"
        job, path = self.uploads.new_upload(original)
        self.upload = Upload(job, path, original)
        self._out = path.open("wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None:
            self._size += end - start
            if self._size > MAX_UPLOAD_BYTES:
                raise HTTPException(413, f"an export may have at most {MAX_UPLOAD_BYTES >> 30} GiB")
            self._out.write(data[start:end])
            return
        self._value.extend(data[start:end])
        if len(self._value) > FIELD_MAX:
            raise HTTPException(422, f"form field {self._name!r} is too long")

    def _end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        elif self._name in FIELDS:
            self.fields[self._name] = self._value.decode("utf-8", "replace")
        elif len(self.fields) > len(FIELDS):
            raise HTTPException(422, "too many form fields")

    def result(self) -> Upload:
        if self.upload is None:
            raise HTTPException(422, "the form has no file field")
        if self._size == 0:
            raise HTTPException(422, "the uploaded file is empty")
        self.upload.fields = self.fields
        return self.upload

    def drop(self) -> None:
        if self._out is not None:
            self._out.close()
        if self.upload is not None:
            self.uploads._drop_upload(self.upload.path)


def _form_schema() -> dict[str, object]:
    """The request body the route reads itself (documented for clients and the API schema)."""
    text = {"type": "string", "maxLength": 200}
    properties = {
        "file": {"type": "string", "format": "binary", "description": "a chat export (WeChat, QQ, Telegram, WhatsApp, "
                 "Discord, Slack, Matrix)"},
        "community": {**text, "description": "bind the imported groups to this community"},
        "group": text,
        "tz": {**text, "description": "zone of exports without one (default: the workspace's)"},
        "format": {**text, "description": "the format (default: detected from the content)"},
        "mask_pii": {"type": "boolean"},
    }  # fmt: skip
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


@router.post("/imports", response_model=ImportJobOut, status_code=202, openapi_extra=_form_schema())
async def start_import(request: Request, principal: Writer) -> ImportJobOut:
    """Start importing the export; poll ``GET /api/v1/imports/{id}`` for the progress and the report."""
    up = await receive_upload(request, principal)
    f = up.fields
    state = await run_in_threadpool(
        request.app.state.uploads.start, up.job, up.path, original=up.filename, actor=principal.actor,
        community=f.get("community") or None, group=f.get("group") or None, tz=f.get("tz") or None,
        fmt=f.get("format") or None, mask_pii=up.flag("mask_pii"),
    )  # fmt: skip
    return ImportJobOut(**state)


@router.get("/imports", response_model=list[ImportJobOut])
async def list_imports(request: Request, principal: Reader) -> list[ImportJobOut]:
    """The newest imports first (the last 50)."""
    return [ImportJobOut(**j) for j in request.app.state.uploads.list()]


@router.get("/imports/{job}", response_model=ImportJobOut)
async def get_import(request: Request, principal: Reader, job: str = JobId) -> ImportJobOut:
    state = request.app.state.uploads.get(job)
    if state is None:
        raise HTTPException(404, f"no import {job!r}")
    return ImportJobOut(**state)
