"""Uploaded files land in a temporary file (the readers take paths), size-limited."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import HTTPException, UploadFile, status

CHUNK = 1 << 20


@contextmanager
def saved_upload(upload: UploadFile, max_bytes: int) -> Iterator[Path]:
    """The upload as a file with its original suffix, deleted afterwards."""
    name = Path(upload.filename or "upload").name
    with tempfile.TemporaryDirectory(prefix="pm-upload-") as tmp:
        path = Path(tmp) / (name or "upload")
        size = 0
        with path.open("wb") as out:
            while chunk := upload.file.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                                        f"upload larger than {max_bytes} bytes")
                out.write(chunk)
        yield path
