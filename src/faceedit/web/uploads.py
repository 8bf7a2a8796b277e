"""Photo uploads: the body read under a cap (multipart or raw), the type sniffed from the content, the pixel count
and the smallest side checked before any decoder or detector sees the image."""

from __future__ import annotations

import io
import warnings

from fastapi import Request

from faceedit.errors import FaceEditError
from faceedit.limits import check_detectable

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 24_000_000
UPLOAD_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
#: Room for multipart headers and boundaries beyond the file itself.
MULTIPART_SLACK = 64 * 1024


class RequestTooLarge(Exception):
    """The upload is over the byte or pixel cap (413)."""


class UnsupportedType(Exception):
    """The upload is not a JPEG, PNG or WebP image (415)."""


def sniff_type(head: bytes) -> str | None:
    """The image type from a file's first bytes (never from its name or the client's Content-Type)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


async def read_upload(request: Request, cap: int) -> bytes:
    """The uploaded file's bytes (form field ``file``, or the raw body), at most ``cap`` bytes."""
    too_big = f"file too large: the limit is {cap / 2 ** 20:g} MB"
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > cap + MULTIPART_SLACK:
        raise RequestTooLarge(too_big)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        from starlette.formparsers import MultiPartException, MultiPartParser

        got = 0

        async def limited():
            nonlocal got
            async for chunk in request.stream():
                got += len(chunk)
                if got > cap + MULTIPART_SLACK:
                    raise RequestTooLarge(too_big)
                yield chunk

        try:
            form = await MultiPartParser(request.headers, limited(), max_files=1, max_fields=4).parse()
        except MultiPartException as exc:
            raise FaceEditError(f"bad upload: {exc.message}") from None
        f = form.get("file")
        if f is None or isinstance(f, str):
            raise FaceEditError("bad upload: send the image in a form field named 'file'")
        try:
            data = await f.read()
        finally:
            await f.close()
    else:
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > cap:
                raise RequestTooLarge(too_big)
        data = bytes(buf)
    if len(data) > cap:
        raise RequestTooLarge(too_big)
    if not data:
        raise FaceEditError("empty upload: no image was sent")
    return data


def check_upload(data: bytes, max_pixels: int) -> str:
    """The image type of ``data`` ("jpeg", "png" or "webp") after checking it is readable, at most ``max_pixels``
    pixels and large enough for face detection; raises :class:`UnsupportedType`, :class:`RequestTooLarge` or
    :class:`FaceEditError`."""
    from PIL import Image, UnidentifiedImageError

    kind = sniff_type(data[:16])
    if kind is None:
        raise UnsupportedType("unsupported file type: upload a JPEG, PNG or WebP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise FaceEditError("corrupt or unreadable image: upload a JPEG, PNG or WebP photo") from None
    except Image.DecompressionBombError:
        raise RequestTooLarge(f"image too large: over the cap of {max_pixels:,} pixels") from None
    if w * h > max_pixels:
        raise RequestTooLarge(f"image too large: {w}x{h} = {w * h:,} pixels, over the cap of {max_pixels:,}")
    check_detectable(h, w, "the uploaded image")  # before any native detector sees it
    return kind
