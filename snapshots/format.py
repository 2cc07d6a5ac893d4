"""The snapshot file format: one JSON header line, then the gzip of the engine state.

```
{"format":"cfd-engine-snapshot","version":1,"created_ms":...,"seq":...,...}\\n
<gzip of the serialized EngineState (engine.state.dump_state)>
```

The header names the format and its version, when the snapshot was taken, the last applied entry
ID of each input stream, the engine's output sequence number, the last published entry ID of each
output stream (where recovery starts comparing replayed outputs), and three SHA-256 digests:
``payload_sha256`` of the uncompressed payload (``tail -n +2 F | gunzip | sha256sum`` reproduces
it), ``gzip_sha256`` of the compressed bytes as stored (deflate has bits that inflate ignores)
and ``header_sha256`` of the other header fields, so a flipped bit anywhere in the file is
caught, not only one that changes the state. gzip's own CRC is a fourth check.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import msgspec

from engine.stream_ids import parse_id

FORMAT_NAME = "cfd-engine-snapshot"
VERSION = 1
MAX_HEADER_BYTES = 64 * 1024
MAX_PAYLOAD_BYTES = 4 * 1024**3
GZIP_LEVEL = 1  # speed over size: the write runs every few seconds and the payload compresses well


class SnapshotError(ValueError):
    """A snapshot file that must not be loaded; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CorruptSnapshot(SnapshotError):
    """Truncated, altered or not a snapshot at all."""


class UnknownVersion(SnapshotError):
    """A snapshot written by a format version this code does not read."""


class Header(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything about a snapshot except its payload."""

    created_ms: int
    seq: int
    last_price_id: str
    last_command_id: str
    last_response_id: str = "0-0"
    last_event_id: str = "0-0"
    payload_size: int = 0
    payload_sha256: str = ""
    gzip_sha256: str = ""
    format: str = FORMAT_NAME
    version: int = VERSION
    header_sha256: str = ""

    def position(self) -> tuple[int, int]:
        """The greatest applied input entry ID: where the engine stood in the merged input order."""
        return max(parse_id(self.last_price_id), parse_id(self.last_command_id))


_encoder = msgspec.json.Encoder(order="sorted")
_header_decoder = msgspec.json.Decoder(Header)


def _header_digest(header: Header) -> str:
    unsigned = msgspec.structs.replace(header, header_sha256="")
    return hashlib.sha256(_encoder.encode(unsigned)).hexdigest()


def encode(header: Header, payload: bytes) -> bytes:
    """The complete file content for ``payload`` (the raw state) under ``header``."""
    compressed = _gzip(payload)
    header = msgspec.structs.replace(
        header,
        payload_size=len(payload),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        gzip_sha256=hashlib.sha256(compressed).hexdigest(),
        format=FORMAT_NAME,
        version=VERSION,
    )
    header = msgspec.structs.replace(header, header_sha256=_header_digest(header))
    return _encoder.encode(header) + b"\n" + compressed


def _gzip(payload: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: gzip container
    return compressor.compress(payload) + compressor.flush()


def split(data: bytes) -> tuple[Header, bytes]:
    """Parse and check the header; return it with the still-compressed rest of the file."""
    end = data.find(b"\n", 0, MAX_HEADER_BYTES)
    if end < 0:
        raise CorruptSnapshot("no header line (empty, truncated or not a snapshot)")
    try:
        raw_header: Any = msgspec.json.decode(data[:end])
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise CorruptSnapshot("header is not JSON") from None
    if not isinstance(raw_header, dict) or raw_header.get("format") != FORMAT_NAME:
        raise CorruptSnapshot("not a cfd-engine-snapshot file")
    version = raw_header.get("version")
    if version != VERSION:
        raise UnknownVersion(f"unknown snapshot version {version!r} (this code reads {VERSION})")
    try:
        header = _header_decoder.decode(data[:end])
        parse_id(header.last_price_id)
        parse_id(header.last_command_id)
        parse_id(header.last_response_id)
        parse_id(header.last_event_id)
    except (msgspec.DecodeError, ValueError) as exc:
        raise CorruptSnapshot(f"bad header: {exc}") from None
    if header.header_sha256 != _header_digest(header):
        raise CorruptSnapshot("header checksum mismatch")
    if not 0 <= header.payload_size <= MAX_PAYLOAD_BYTES:
        raise CorruptSnapshot("bad payload size")
    return header, data[end + 1 :]


def decode(data: bytes) -> tuple[Header, bytes]:
    """Check everything (header, gzip, size, SHA-256); return the header and the raw payload."""
    header, compressed = split(data)
    if hashlib.sha256(compressed).hexdigest() != header.gzip_sha256:
        raise CorruptSnapshot("gzip checksum mismatch (altered or truncated)")
    decompressor = zlib.decompressobj(31)
    try:
        # One byte more than announced, so an over-long payload is noticed without inflating it all.
        payload = decompressor.decompress(compressed, header.payload_size + 1)
    except zlib.error as exc:
        raise CorruptSnapshot(f"payload is not valid gzip: {exc}") from None
    if not decompressor.eof:
        raise CorruptSnapshot("payload is truncated or longer than announced")
    if decompressor.unused_data:
        raise CorruptSnapshot("trailing bytes after the gzip payload")
    if len(payload) != header.payload_size:
        raise CorruptSnapshot("payload size mismatch")
    if hashlib.sha256(payload).hexdigest() != header.payload_sha256:
        raise CorruptSnapshot("payload checksum mismatch")
    return header, payload
