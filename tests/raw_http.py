"""A raw HTTP/1.1 client for hostile-input tests: no normalization of paths (``..`` stays), any
bytes where HTTP allows them, one connection per request, bounded waits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


async def raw_request(
    port: int, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> Answer | None:
    """Send one request; None when the server closed the connection without an answer (what
    tornado does with requests it can't parse, e.g. over its header size limit)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    try:
        lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port]
        lines += [k + b": " + v for k, v in headers if k.lower() != b"host"]
        lines += [b"Content-Length: %d" % len(body), b"Connection: close"]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        data = await asyncio.wait_for(reader.read(), 10)
    except (ConnectionResetError, BrokenPipeError):
        data = b""  # it hung up on us while we were still sending
    finally:
        writer.close()
    if not data:
        return None
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers_out = [tuple(h.split(": ", 1)) for h in header_lines if ": " in h]
    answer = Answer(int(status_line.split()[1]), headers_out, rest)  # type: ignore[arg-type]
    if (answer.header("Transfer-Encoding") or "").lower() == "chunked":
        answer.body = _dechunk(rest)
    return answer


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out
