"""``/api/v1/imports``: upload a chat export, follow its import, see what it added."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, HTTPException, Path, Request, UploadFile

from shequn.services.uploads import MAX_UPLOAD_BYTES, Uploads
from shequn.web.deps import Reader, Writer
from shequn.web.schemas import ImportJobOut

router = APIRouter(tags=["imports"])
JobId = Path(pattern=r"^[0-9]{14}-[0-9a-f]{8}$")


def save_upload(uploads: Uploads, file: UploadFile) -> tuple[str, Any]:
    """Copy the upload into a new job's folder (refusing more than MAX_UPLOAD_BYTES); return (job, path)."""
    job, path = uploads.new_upload(file.filename or "export")
    size = 0
    with path.open("wb") as out:
        while chunk := file.file.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                uploads._drop_upload(path)
                raise HTTPException(413, f"an export may have at most {MAX_UPLOAD_BYTES >> 30} GiB")
            out.write(chunk)
    if size == 0:
        uploads._drop_upload(path)
        raise HTTPException(422, "the uploaded file is empty")
    return job, path


@router.post("/imports", response_model=ImportJobOut, status_code=202)
def start_import(
    request: Request,
    principal: Writer,
    file: UploadFile = File(description="a chat export (WeChat, QQ, Telegram, WhatsApp, Discord, Slack, Matrix)"),
    community: str | None = Form(None, max_length=100, description="bind the imported groups to this community"),
    group: str | None = Form(None, max_length=200),
    tz: str | None = Form(None, max_length=64, description="zone of exports without one (default: workspace's)"),
    format: str | None = Form(None, max_length=32, description="the format (default: detected from the content)"),
    mask_pii: bool = Form(False),
) -> ImportJobOut:
    """Start importing the export; poll ``GET /api/v1/imports/{id}`` for the progress and the report."""
    uploads: Uploads = request.app.state.uploads
    job, path = save_upload(uploads, file)
    state = uploads.start(
        job, path, original=file.filename or "export", actor=principal.actor, community=community or None,
        group=group or None, tz=tz or None, fmt=format or None, mask_pii=mask_pii,
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
