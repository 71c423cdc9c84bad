"""A slow field link in user space: a TCP relay on 127.0.0.1 between a client and a live server.

Each direction is one pipe of ``rate`` bytes per second behind a bounded queue, with a one-way
``delay``; the relay's own socket buffers are kept small so the queue is the only place bytes
wait. TCP on loopback never loses a packet, so a loss shows as what a lost segment costs TCP: the
direction stalls for a retransmission (everything behind it waits, in order). A new connection
waits one round trip before its first byte (the handshake).

The client's own kernel send buffer is the client's business, as on a tablet: Android sizes
it per network type (on EDGE at most 70 800 bytes), ``sync.client`` sets 32 KiB; a client that
leaves loopback's autotuning on may park a few hundred kilobytes there.

Faults on demand: ``cut()`` resets every connection at once (the tablet's network went away:
both ends see the connection die, the bytes in the queue are lost), ``cut_after(n)`` does it once
``n`` more bytes went upstream, ``silence(seconds)`` lets nothing through for a while (the
connections stay open, as when a tablet loses coverage). ``carried_up`` / ``carried_down`` count
the bytes the link carried each way.

Used by the end-to-end tests (``tests/sync/test_field_link.py``) and ``bench/field_net_bench.py``.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType

_POLL = 0.1
_READ_BYTES = 4096
_SOCKET_BUFFER = 8 * 1024


@dataclass(frozen=True, slots=True)
class LinkProfile:
    rate: float = 10_000.0  # bytes per second, each way
    delay: float = 0.25  # seconds, each way
    loss: float = 0.01  # share of segments lost (each costs a retransmission stall)
    queue_bytes: int = 64 * 1024  # per direction
    segment: int = 1460
    # How long a lost segment holds its direction (default: two round trips and TCP's 200 ms
    # minimum, a conservative retransmission timeout; fast retransmit is often quicker).
    loss_stall: float | None = None

    @property
    def stall(self) -> float:
        return self.loss_stall if self.loss_stall is not None else 4 * self.delay + 0.2


# docs/performance.md: 80 kbit/s, 500 ms round trip, 1 % loss, a 64 KiB queue.
PROFILE_2G = LinkProfile()


@dataclass(eq=False)
class _Connection:
    client: socket.socket
    server: socket.socket
    dead: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def kill(self) -> None:
        """Reset both ends (RST, not FIN): the bytes they did not get are gone."""
        with self.lock:
            if self.dead:
                return
            self.dead = True
            for sock in (self.client, self.server):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()


class _Direction:
    """One way of the link: a bounded queue, a transmitter paced at the rate, a delay line."""

    def __init__(self, link: Link, name: str, *, seed: int) -> None:
        self.link = link
        self.name = name
        self.profile = link.profile
        self.rng = random.Random(seed)
        self.queue: deque[tuple[_Connection, bytes]] = deque()
        self.queued = 0
        self.room = threading.Condition()
        self.line: deque[tuple[float, _Connection, bytes]] = deque()
        self.arrivals = threading.Condition()
        self.carried = 0
        self.losses = 0
        self.free_at = 0.0

    def put(self, conn: _Connection, data: bytes) -> bool:
        """Queue ``data`` (b"" = end of stream); waits for room. False once the link is gone."""
        with self.room:
            while self.queued >= self.profile.queue_bytes and not conn.dead:
                if self.link.closed:
                    return False
                self.room.wait(_POLL)
            if conn.dead:
                return False
            self.queue.append((conn, data))
            self.queued += len(data)
            self.room.notify_all()
        return True

    def transmit(self) -> None:
        while not self.link.closed:
            with self.room:
                while not self.queue and not self.link.closed:
                    self.room.wait(_POLL)
                if self.link.closed:
                    return
                conn, data = self.queue.popleft()
            if not conn.dead:
                start = max(time.monotonic(), self.free_at, self.link.silent_until)
                if data and self.rng.random() < self.profile.loss:
                    self.losses += 1
                    start += self.profile.stall
                self.free_at = start + len(data) / self.profile.rate
                _sleep_until(self.free_at)
            with self.room:
                self.queued -= len(data)
                self.room.notify_all()
            if conn.dead:
                continue
            self.carried += len(data)
            with self.arrivals:
                self.line.append((self.free_at + self.profile.delay, conn, data))
                self.arrivals.notify()
            if self.name == "up":
                self.link._after_upstream(len(data))

    def deliver(self) -> None:
        while not self.link.closed:
            with self.arrivals:
                while not self.line and not self.link.closed:
                    self.arrivals.wait(_POLL)
                if self.link.closed:
                    return
                due, conn, data = self.line.popleft()
            _sleep_until(due)
            if conn.dead:
                continue
            target = conn.server if self.name == "up" else conn.client
            try:
                if data:
                    target.sendall(data)
                else:
                    target.shutdown(socket.SHUT_WR)
            except OSError:
                conn.kill()

    def drop(self, conn: _Connection) -> None:
        with self.room:
            kept = [(c, d) for c, d in self.queue if c is not conn]
            self.queued -= sum(len(d) for c, d in self.queue if c is conn)
            self.queue = deque(kept)
            self.room.notify_all()


class Link:
    """The relay: clients connect to ``url``; each connection is forwarded to ``target``."""

    def __init__(
        self, target: tuple[str, int], profile: LinkProfile = PROFILE_2G, *, seed: int = 0
    ) -> None:
        self.target = target
        self.profile = profile
        self.closed = False
        self.silent_until = 0.0
        self.cuts = 0
        self.connections: list[_Connection] = []
        self._lock = threading.Lock()
        self._cut_at: int | None = None
        self.up = _Direction(self, "up", seed=seed)
        self.down = _Direction(self, "down", seed=seed + 1)
        self._listener = socket.socket()
        # Small buffers and a real link's segment size: the client's kernel then sizes its send
        # buffer as for a slow link (a few segments), instead of loopback's megabytes.
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
        self._listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, profile.segment)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(_POLL)
        self._threads = [
            threading.Thread(target=target, daemon=True, name=f"link-{name}")
            for name, target in (
                ("accept", self._accept),
                ("up-tx", self.up.transmit),
                ("up-rx", self.up.deliver),
                ("down-tx", self.down.transmit),
                ("down-rx", self.down.deliver),
            )
        ]
        for thread in self._threads:
            thread.start()

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def carried_up(self) -> int:
        return self.up.carried

    @property
    def carried_down(self) -> int:
        return self.down.carried

    # --- faults --------------------------------------------------------------------------------

    def cut(self) -> None:
        """Reset every open connection now; what was queued or in the air is lost."""
        with self._lock:
            victims = [c for c in self.connections if not c.dead]
            self.connections = []
            self.cuts += 1
        for conn in victims:
            conn.kill()
            self.up.drop(conn)
            self.down.drop(conn)

    def cut_after(self, upstream_bytes: int) -> None:
        """Cut once ``upstream_bytes`` more bytes have gone upstream."""
        with self._lock:
            self._cut_at = self.up.carried + upstream_bytes

    @property
    def cut_armed(self) -> bool:
        """A ``cut_after`` is waiting for its bytes."""
        return self._cut_at is not None

    def silence(self, seconds: float) -> None:
        """Nothing enters the link for ``seconds`` (connections stay open)."""
        self.silent_until = time.monotonic() + seconds

    def _after_upstream(self, sent: int) -> None:
        with self._lock:
            due = self._cut_at is not None and self.up.carried >= self._cut_at
            if due:
                self._cut_at = None
        if due:
            self.cut()

    # --- plumbing ------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
            try:
                server.connect(self.target)
            except OSError:
                client.close()
                server.close()
                continue
            conn = _Connection(client, server)
            with self._lock:
                self.connections.append(conn)
            for source, direction, handshake in (
                (client, self.up, 2 * self.profile.delay),
                (server, self.down, 0.0),
            ):
                threading.Thread(
                    target=self._pump, args=(conn, source, direction, handshake), daemon=True
                ).start()

    def _pump(
        self, conn: _Connection, source: socket.socket, direction: _Direction, handshake: float
    ) -> None:
        time.sleep(handshake)
        source.settimeout(_POLL)
        segment = self.profile.segment
        while not conn.dead and not self.closed:
            with direction.room:
                while direction.queued >= self.profile.queue_bytes and not conn.dead:
                    direction.room.wait(_POLL)
            try:
                data = source.recv(_READ_BYTES)
            except TimeoutError:
                continue
            except OSError:
                conn.kill()
                return
            if not data:
                direction.put(conn, b"")
                return
            for at in range(0, len(data), segment):
                if not direction.put(conn, data[at : at + segment]):
                    return

    def close(self) -> None:
        self.closed = True
        self._listener.close()
        with self._lock:
            victims, self.connections = self.connections, []
        for conn in victims:
            conn.kill()
        for thread in self._threads:
            thread.join(2)

    def __enter__(self) -> Link:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _sleep_until(moment: float) -> None:
    pause = moment - time.monotonic()
    if pause > 0:
        time.sleep(pause)
