"""The control socket's I/O thread on real Unix sockets: what a bad, slow or dead client does
must never reach the main loop, and every good client gets every message, in order."""

from __future__ import annotations

import json
import os
import socket
import stat
import time

import pytest

from coach.adapters.control_client import DaemonClient, NotRunning
from coach.adapters.control_socket import MAX_FRAME, ControlServer, SocketInUse
from tests.patience import patience


@pytest.fixture
def server(tmp_path):
    server = ControlServer(tmp_path / "rugcoach.sock", max_buffer=256 * 1024, stall_s=1.0)
    server.start()
    yield server
    server.close()


def serve_until(server, predicate, timeout=10.0, answer=None):
    """The main loop's side: drain the requests (answering with `answer`) until predicate()."""
    deadline = time.monotonic() + patience(timeout)
    while time.monotonic() < deadline:
        for request in server.requests():
            if answer is not None:
                answer(request)
        if predicate():
            return True
        time.sleep(0.005)
    return False


def raw(server) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(server.path))
    return sock


def read_lines(sock, count, timeout=10.0):
    sock.settimeout(patience(timeout))
    data = b""
    while data.count(b"\n") < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return [json.loads(line) for line in data.splitlines()[:count]]


def subscriber(server):
    """A raw client that subscribed (the main loop's answer makes it one)."""
    sock = raw(server)
    sock.sendall(b'{"id": 1, "method": "subscribe"}\n')
    asked = []
    assert serve_until(server, lambda: bool(asked), answer=asked.append)
    server.subscribe(asked[0].client, {"id": 1, "result": {"hello": True}})
    assert read_lines(sock, 1) == [{"id": 1, "result": {"hello": True}}]
    return sock


def test_the_socket_is_for_the_service_group_only_and_replaces_a_dead_daemons(tmp_path):
    path = tmp_path / "rugcoach.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()                       # a daemon killed with -9 leaves this behind
    server = ControlServer(path)
    server.start()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        with pytest.raises(SocketInUse):   # a second daemon must not steal a live one's socket
            ControlServer(path).start()
    finally:
        server.close()
    assert not path.exists(), "the socket file goes with the daemon"


def test_twenty_subscribers_get_every_message_in_order(server):
    socks = [subscriber(server) for _ in range(20)]
    for n in range(200):
        server.publish({"method": "samples", "params": {"n": n}})
    for sock in socks:
        assert [m["params"]["n"] for m in read_lines(sock, 200)] == list(range(200))
    assert server.status().subscribers == 20


def test_a_client_that_never_reads_is_dropped_and_never_stalls_the_others(server):
    sleeper = subscriber(server)      # subscribes, then never reads again
    reader = subscriber(server)
    reader.settimeout(patience(10))
    buffer = b""
    payload = "x" * 2000
    slowest = 0.0
    for n in range(600):              # 1.2 MB: more than the socket's buffer and ours together
        began = time.perf_counter()
        server.publish({"method": "event", "params": {"n": n, "pad": payload}})
        slowest = max(slowest, time.perf_counter() - began)
        # the reader keeps up, by construction: never more than 20 messages behind (40 KB)
        while buffer.count(b"\n") < n - 20:
            chunk = reader.recv(1 << 20)
            assert chunk, "the reading client was dropped"
            buffer += chunk
    while buffer.count(b"\n") < 600:
        chunk = reader.recv(1 << 20)
        assert chunk, "the reading client was dropped"
        buffer += chunk
    got = [json.loads(line)["params"]["n"] for line in buffer.splitlines()]
    assert got == list(range(600)), "the reading client got everything, in order"
    assert serve_until(server, lambda: server.status().dropped == 1), "the sleeper was dropped"
    assert server.status().subscribers == 1
    # publish only hands over: a client that does not read cannot make the main loop wait
    print(f"\n  slowest publish {slowest * 1e3:.2f} ms")
    sleeper.close()


def test_a_client_gone_mid_frame_leaves_no_request_and_no_trace(server):
    sock = raw(server)
    sock.sendall(b'{"id": 7, "method": "sta')
    sock.close()
    other = subscriber(server)
    requests = []
    serve_until(server, lambda: False, timeout=0.5, answer=requests.append)
    assert requests == [], "half a frame is no request"
    assert server.status().clients == 1
    server.publish({"method": "event", "params": {"n": 1}})
    assert read_lines(other, 1)[0]["params"] == {"n": 1}


def test_malformed_frames_get_an_error_and_the_connection_goes_on(server):
    sock = raw(server)
    sock.sendall(b'not json\n[1, 2]\n{"id": 3, "params": {}}\n{"id": 4, "method": "status", "params": []}\n'
                 b'\xff\xfe\n{"id": 5, "method": "status"}\n')
    errors = read_lines(sock, 5)
    assert [e["error"]["code"] for e in errors] == ["bad_frame", "bad_frame", "bad_request", "bad_request",
                                                   "bad_frame"]
    assert errors[2]["id"] == 3 and "method" in errors[2]["error"]["message"]
    answered = []
    serve_until(server, lambda: bool(answered), answer=lambda r: (
        answered.append(r), server.reply(r.client, {"id": r.id, "result": {"ok": True}})))
    assert answered[0].method == "status" and answered[0].id == 5
    assert read_lines(sock, 1) == [{"id": 5, "result": {"ok": True}}]


def test_frames_built_to_break_the_parser_are_refused_and_serving_goes_on(server):
    sock = raw(server)
    sock.sendall(b"[" * 60000 + b"\n")                                      # too deep for the parser
    sock.sendall(b'{"id": ' + b"[" * 900 + b"]" * 900 + b', "method": "status"}\n')   # no one needs that id
    sock.sendall(b'{"id": 9, "method": "status"}\n')
    errors = read_lines(sock, 2)
    assert [e["error"]["code"] for e in errors] == ["bad_frame", "bad_request"]
    answered = []
    assert serve_until(server, lambda: bool(answered), answer=lambda r: (
        answered.append(r), server.reply(r.client, {"id": r.id, "result": {}})))
    assert read_lines(sock, 1) == [{"id": 9, "result": {}}], "the socket serves on"
    assert server.alive


def test_a_publish_right_after_subscribe_reaches_the_new_subscriber(server):
    for n in range(20):
        sock = raw(server)
        sock.sendall(b'{"id": 1, "method": "subscribe"}\n')
        asked: list = []
        assert serve_until(server, asked.__len__, answer=asked.append)
        server.subscribe(asked[0].client, {"id": 1, "result": {}})
        server.publish({"method": "event", "params": {"n": n}})   # at once: the same turn of the loop
        assert read_lines(sock, 2)[1]["params"] == {"n": n}
        sock.close()


def test_an_endless_frame_is_refused_and_the_client_closed(server):
    sock = raw(server)
    sock.sendall(b"{" + b" " * (MAX_FRAME + 10))
    reply = read_lines(sock, 1)
    assert reply[0]["error"]["code"] == "frame_too_long"
    sock.settimeout(patience(5))
    assert sock.recv(10) == b"", "then closed"


def test_the_client_says_plainly_when_nobody_answers(tmp_path, server):
    with pytest.raises(NotRunning, match="not running: no socket at"):
        DaemonClient(tmp_path / "nothing.sock").connect()
    with pytest.raises(NotRunning, match="did not answer within 0.5 s"):
        DaemonClient(server.path, timeout=0.5).connect()   # nobody drains the requests (its hello)
    server.close()
    client = DaemonClient(server.path)
    with pytest.raises(NotRunning):
        client.connect()
