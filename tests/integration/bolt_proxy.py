"""A TCP proxy in front of the shared Neo4j server that injects faults into its own connections only: a commit that
lands while the client never hears of it, and an outage (connections cut, new ones refused). Other clients of the
server are not disturbed."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

# a Bolt COMMIT message as the driver sends it: one chunk of two bytes (tiny struct, no field; signature 0x12), end
COMMIT = b"\x00\x02\xb0\x12\x00\x00"
# what a read transaction's BEGIN carries in its extra map: "mode": "r" (a write transaction has no mode)
READ_MODE = b"\x84mode\x81r"


class _Link:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.swallow_reply = False
        self.reading = False  # the open transaction began in read mode

    def close(self) -> None:
        for s in (self.client, self.server):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                s.close()


class BoltFaultProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to ``target``.

    ``cut_commits(n)``: the next ``n`` COMMITs of write transactions reach the server, which commits and answers;
    the answer is dropped and the connection closed, so the client cannot tell whether its transaction landed.
    ``down()`` cuts every connection and refuses new ones until ``up()``.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._cuts = 0
        self._down = False
        self.commits_cut = 0
        self.commits_seen = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="bolt-proxy").start()

    @property
    def url(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def cut_commits(self, n: int) -> None:
        """Cut the next ``n`` COMMITs of write transactions."""
        with self._lock:
            self._cuts += n

    def down(self) -> None:
        with self._lock:
            self._down = True
            links, self._links = self._links, []
        for link in links:
            link.close()

    def up(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self._closed = True
        self.down()
        with suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refused = self._down
            if refused:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
            threading.Thread(target=self._upstream, args=(link,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(link,), daemon=True).start()

    def _upstream(self, link: _Link) -> None:
        """Client to server, watching for COMMIT (the pattern may straddle two reads)."""
        tail = b""  # the last bytes of the previous read, one fewer than a pattern: a match is never seen twice
        try:
            while data := link.client.recv(65536):
                if READ_MODE in tail[-(len(READ_MODE) - 1) :] + data:
                    link.reading = True
                if COMMIT in tail[-(len(COMMIT) - 1) :] + data:
                    with self._lock:
                        self.commits_seen += 1
                        if self._cuts > 0 and not link.reading:
                            self._cuts -= 1
                            self.commits_cut += 1
                            link.swallow_reply = True
                    link.reading = False
                tail = (tail + data)[-len(READ_MODE) :]
                link.server.sendall(data)
        except OSError:
            pass
        link.close()

    def _downstream(self, link: _Link) -> None:
        try:
            while data := link.server.recv(65536):
                if link.swallow_reply:  # the server has committed and said so: the client never hears it
                    break
                link.client.sendall(data)
        except OSError:
            pass
        link.close()
