"""Misbehaving LDAP servers on loopback, for the failure paths a real 389-ds will not take:
each accepts TCP connections in a thread and then does one wrong thing. Used as context
managers; `port` is where they listen, `connections` how many they accepted."""
import socket
import threading


class FakeServer:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.held = []
        self.stopped = False

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stopped = True
        self.sock.close()
        for conn in self.held:
            try:
                conn.close()
            except OSError:
                pass

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.held.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        """Accepts and says nothing (a hung server, or a TLS handshake that never completes)."""


class StartTLSThenSilent(FakeServer):
    """Answers the StartTLS extended request with success, then never answers the handshake."""

    def serve(self, conn):
        request = conn.recv(4096)
        if len(request) < 5:
            return
        # LDAPMessage: 30 len 02 idlen id ...; answer ExtendedResponse [APPLICATION 24] success
        idlen = request[3]
        msgid = request[4:4 + idlen]
        body = bytes([0x02, idlen]) + msgid + bytes([0x78, 0x07, 0x0A, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00])
        conn.sendall(bytes([0x30, len(body)]) + body)


class Garbage(FakeServer):
    """Answers every request with bytes that are not LDAP."""

    def serve(self, conn):
        while True:
            try:
                if not conn.recv(4096):
                    return
                conn.sendall(b"\x30\x84\xff\xff\xff\xff garbage, not BER\r\n" * 4)
            except OSError:
                return


def _message_id(request):
    """The message ID of a BER-encoded LDAPMessage (short lengths only: what libldap sends for a bind)."""
    if len(request) < 5:
        return None
    i = 2 if request[1] < 0x80 else 2 + (request[1] & 0x7F)  # skip the SEQUENCE length
    idlen = request[i + 1]
    return request[i + 2:i + 2 + idlen]


def _bind_success(msgid):
    body = bytes([0x02, len(msgid)]) + msgid + bytes([0x61, 0x07, 0x0A, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00])
    return bytes([0x30, len(body)]) + body


class BindThenSilent(FakeServer):
    """Accepts the bind, then never answers anything (a server that stalls after the bind)."""

    def serve(self, conn):
        msgid = _message_id(conn.recv(4096))
        if msgid is not None:
            conn.sendall(_bind_success(msgid))


class BindThenReset(FakeServer):
    """Accepts the bind, then resets the connection (a server killed between the bind and the
    next request): the client's next write meets a reset socket (EPIPE, and SIGPIPE unless the
    process ignores it)."""

    def serve(self, conn):
        import socket
        import struct
        import time
        msgid = _message_id(conn.recv(4096))
        if msgid is not None:
            conn.sendall(_bind_success(msgid))
            time.sleep(0.05)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()


class Proxy(FakeServer):
    """Forwards to a real server, until `hang` is set: then accepts and says nothing (a supplier
    stopped with SIGSTOP: TCP accepts, LDAP never answers). Connections made while it hangs stay
    silent."""

    def __init__(self, target_port):
        super().__init__()
        self.target_port = target_port
        self.hang = False
        # forward the first answer of each connection (the bind's), then swallow the rest: the
        # server gets and applies each request, its answers are lost (a supplier stopped after
        # it committed a write and before it answered)
        self.lose_answers = False
        # when a number: forward that many more add answers (AddResponse, over all connections)
        # and swallow the later ones; every other answer passes (a supplier that stopped
        # answering in the middle of a pipelined round of adds, after it applied them all)
        self.add_answers = None
        # forward the first request of each connection (the bind; a number: that many
        # requests), then hold the rest until `release()`: the server gets a write only after
        # the client gave up on it (a supplier that applied a write late, after it was applied
        # again elsewhere), or never answers a read in time
        self.hold_requests = False
        self._held = []  # per held connection: [upstream socket, held chunks, released]
        self._lock = threading.Lock()

    def release(self):
        """Sends the held requests to the server (without the client's unbind, which would
        close the connection before they are done); their answers go nowhere."""
        with self._lock:
            streams, self._held = self._held, []
        for stream in streams:
            stream[2] = True
            messages, _ = _split_messages(b"".join(stream[1]))
            stream[0].sendall(b"".join(m for m in messages if _protocol_op(m) != 0x42))

    def _forward_answer(self, message):
        if self.add_answers is None or _protocol_op(message) != 0x69:
            return True
        with self._lock:
            if self.add_answers is None:
                return True
            if self.add_answers > 0:
                self.add_answers -= 1
                return True
            return False

    def serve(self, conn):
        import socket
        if self.hang:
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        self.held.append(upstream)
        stream = [upstream, [], False]

        def pump(src, dst, answers=False):
            try:
                forwarded = 0
                pending = b""
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if answers and self.lose_answers and forwarded > 0:
                        continue
                    if answers and stream[2]:
                        continue  # answers to released requests: the client is gone
                    if not answers and self.hold_requests and forwarded >= int(self.hold_requests):
                        with self._lock:
                            if not stream[1]:
                                self._held.append(stream)
                            stream[1].append(data)
                        continue
                    forwarded += 1
                    if answers and self.add_answers is not None or pending:
                        messages, pending = _split_messages(pending + data)
                        data = b"".join(m for m in messages if self._forward_answer(m))
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                # a connection with held requests stays open to the server until `release()`
                for s in (src, dst) if not stream[1] else (src,) if not answers else ():
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(conn, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, conn, True), daemon=True).start()


def _split_messages(data):
    """The complete BER-encoded LDAPMessages at the start of `data`, and the bytes left."""
    messages = []
    while len(data) >= 2:
        if data[1] < 0x80:
            header, length = 2, data[1]
        else:
            count = data[1] & 0x7F
            if len(data) < 2 + count:
                break
            header, length = 2 + count, int.from_bytes(data[2:2 + count], "big")
        if len(data) < header + length:
            break
        messages.append(data[:header + length])
        data = data[header + length:]
    return messages, data


def _protocol_op(message):
    """The protocolOp tag of one LDAPMessage (after its message ID)."""
    header = 2 if message[1] < 0x80 else 2 + (message[1] & 0x7F)
    return message[header + 2 + message[header + 1]]


class DropsSYNs:
    """A loopback port whose accept queue is full, so that the kernel drops new SYNs: a
    connection to it neither succeeds nor is refused."""

    def __enter__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(c)
        return self

    def __exit__(self, *exc):
        for c in self.fillers:
            c.close()
        self.sock.close()
