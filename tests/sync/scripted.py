"""An HTTP server on 127.0.0.1 that answers each request with the next scripted answer, for
the sync client's tests against its real ``requests`` session."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (status, headers, body): a dict body goes as JSON; bytes as they are, with the headers'
# Content-Type (JSON's when they name none).
Answer = tuple[int, dict[str, str], dict[str, Any] | bytes]


class Scripted:
    """Each request gets the next scripted answer, then ``default``."""

    def __init__(self, default: Answer = (200, {}, {})) -> None:
        self.answers: deque[Answer] = deque()
        self.seen: list[str] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                script.seen.append(f"{self.command} {self.path.split('?')[0]}")
                status, headers, body = script.answers.popleft() if script.answers else default
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
