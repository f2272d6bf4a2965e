"""A TCP proxy the tests control, to put between the app and PostgreSQL and break the link at will.

`cut()` closes every open connection and refuses new ones (the database went away);
`blackhole()` closes every open connection and accepts new ones without ever answering (packets
lost on the way, as in a network partition); `restore()` forwards again.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._mode = "forward"  # forward | refuse | blackhole
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    # -- control -------------------------------------------------------------------------------

    def cut(self) -> None:
        """Close every connection and refuse new ones (connection reset / refused)."""
        self._set_mode("refuse")

    def blackhole(self) -> None:
        """Close every connection; accept new ones but never forward a byte."""
        self._set_mode("blackhole")

    def restore(self) -> None:
        self._set_mode("forward")

    def close(self) -> None:
        self._stopped.set()
        self._set_mode("refuse")
        self._thread.join(timeout=5)
        self._listener.close()

    def _set_mode(self, mode: str) -> None:
        with self._lock:
            self._mode = mode
            if mode != "forward":
                for sock in self._sockets:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                self._sockets.clear()

    # -- plumbing ------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                mode = self._mode
                if mode == "refuse":
                    # RST instead of FIN: what a client sees when nothing listens any more.
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    client.close()
                    continue
                self._sockets.add(client)
            if mode == "blackhole":
                continue  # held open, never answered, closed by the next mode change
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self._forget(client)
                continue
            with self._lock:
                self._sockets.add(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            while not self._stopped.is_set():
                readable, _, _ = select.select(list(peers), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            self._forget(client)
            self._forget(upstream)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()
