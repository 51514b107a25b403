"""Reading an upload as it streams in: the multipart body is parsed chunk by chunk and cut off
as soon as the file passes the task's size cap, so an oversized (or endless) upload is
refused after reading at most the cap, never read whole into memory or onto disk."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_LABEL = 200
FORM_OVERHEAD = 64 * 1024  # headers, boundaries and the label field around the file
# A refused upload is read to its end (and dropped) up to this much, for this long: a server
# that answers and closes while the client still sends makes the client's TCP stack see a
# reset, and the client never reads the 413. Past these, it is closed anyway.
MAX_DRAINED = 256 * 2**20
DRAIN_S = 30


class UploadRefused(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class Upload:
    data: bytes
    label: str


@dataclass
class _Part:
    name: str = ""
    buffer: io.BytesIO = field(default_factory=io.BytesIO)


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise UploadRefused(400, "send the model as multipart/form-data with the file in the "
                                 "field 'file'")
    return options[b"boundary"]


async def read_upload(content_type: str | None, content_length: str | None,
                      chunks: AsyncIterator[bytes], max_bytes: int) -> Upload:
    boundary = boundary_of(content_type)
    too_big = UploadRefused(413, f"the file is larger than this task's limit of "
                                 f"{max_bytes / 2**20:g} MB")
    if content_length and content_length.isdigit() and \
            int(content_length) > max_bytes + FORM_OVERHEAD:
        raise too_big  # said before reading a byte
    parts: list[_Part] = []
    header = {"field": b"", "value": b""}
    headers: dict[bytes, bytes] = {}

    def on_part_begin():
        headers.clear()
        parts.append(_Part())

    def on_header_field(data, start, end):
        header["field"] += data[start:end]

    def on_header_value(data, start, end):
        header["value"] += data[start:end]

    def on_header_end():
        headers[header["field"].lower()] = header["value"]
        header["field"], header["value"] = b"", b""

    def on_headers_finished():
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        parts[-1].name = options.get(b"name", b"").decode("utf-8", "replace")

    def on_part_data(data, start, end):
        part = parts[-1]
        limit = max_bytes if part.name == "file" else MAX_LABEL * 4
        if part.buffer.tell() + (end - start) > limit:
            raise too_big if part.name == "file" else UploadRefused(
                400, f"the field {part.name!r} is longer than {MAX_LABEL} characters")
        part.buffer.write(data[start:end])

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data,
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished})
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > max_bytes + FORM_OVERHEAD:
            raise too_big
        try:
            parser.write(chunk)
        except MultipartParseError as error:
            raise UploadRefused(400, f"the upload is not valid multipart/form-data "
                                     f"({error})") from None
    try:
        parser.finalize()
    except MultipartParseError as error:
        raise UploadRefused(400, f"the upload is not valid multipart/form-data ({error})") \
            from None
    fields = {part.name: part.buffer.getvalue() for part in parts}
    if "file" not in fields:
        raise UploadRefused(400, "the upload has no field 'file' (the .onnx model)")
    try:
        label = fields.get("name", b"").decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UploadRefused(400, "the field 'name' is not UTF-8 text") from None
    if len(label) > MAX_LABEL:
        raise UploadRefused(400, f"the field 'name' is longer than {MAX_LABEL} characters")
    if not label.isprintable():
        raise UploadRefused(400, "the field 'name' has control characters")
    return Upload(fields["file"], label)


async def drain(chunks: AsyncIterator[bytes], content_length: str | None) -> None:
    """Read what is left of a refused upload, dropping it (see MAX_DRAINED)."""
    if content_length and content_length.isdigit() and int(content_length) > MAX_DRAINED:
        return
    drained = 0
    try:
        async with asyncio.timeout(DRAIN_S):
            async for chunk in chunks:
                drained += len(chunk)
                if drained > MAX_DRAINED:
                    return
    except Exception:  # the client went away or stalled: best effort ends here
        return
