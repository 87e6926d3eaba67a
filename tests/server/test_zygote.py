"""The zygote render workers and config sandboxes are forked from: children get their socket and arguments, their
exit codes come back (signals negative), a dead zygote is started again, and children inherit a frozen heap."""
from __future__ import annotations

import gc
import os
import select
import signal
import socket
import sys
import time
from typing import Iterator

import pytest

from workers.zygote import Zygote

TARGETS = __name__


def echo_target(sock: socket.socket, prefix: bytes) -> None:
    """Answers each message with ``prefix`` + message until the other end closes."""
    with sock:
        while data := sock.recv(1024):
            sock.sendall(prefix + data)


def report_target(sock: socket.socket) -> None:
    """Says how many objects it inherited frozen, which modules it has, and its parent pid."""
    with sock:
        sock.sendall(f"{gc.get_freeze_count()} {int('json' in sys.modules)} {os.getppid()}".encode())


def failing_target(sock: socket.socket) -> None:
    raise RuntimeError("a target that fails")


def exiting_target(sock: socket.socket, code: int) -> None:
    sys.exit(code)


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    made = Zygote(preload=["json"])
    made.ensure_running()
    yield made
    made.close()


def _spawn(zygote: Zygote, target, *args):  # type: ignore[no-untyped-def]
    parent_end, child_end = socket.socketpair()
    with child_end:
        child = zygote.spawn(target, child_end, args)
    return child, parent_end


def _wait_exit(child, timeout: float = 20.0) -> int:  # type: ignore[no-untyped-def]
    readable, _, _ = select.select([child.sentinel], [], [], timeout)
    assert readable, "the sentinel did not become readable"
    child.join(0)
    assert child.exitcode is not None
    return child.exitcode


def test_a_child_runs_its_target_on_its_socket_and_exits_zero(zygote: Zygote) -> None:
    child, sock = _spawn(zygote, echo_target, b"echo:")
    with sock:
        sock.sendall(b"hello")
        assert sock.recv(1024) == b"echo:hello"
        assert child.exitcode is None
    assert _wait_exit(child) == 0


def test_exit_codes_come_back_signals_negative(zygote: Zygote) -> None:
    failing, sock_a = _spawn(zygote, failing_target)
    exiting, sock_b = _spawn(zygote, exiting_target, 3)
    killed, sock_c = _spawn(zygote, echo_target, b"")
    with sock_a, sock_b, sock_c:
        os.kill(killed.pid, signal.SIGKILL)
        assert _wait_exit(failing) == 1
        assert _wait_exit(exiting) == 3
        assert _wait_exit(killed) == -signal.SIGKILL


def test_children_inherit_the_preloaded_modules_frozen(zygote: Zygote) -> None:
    child, sock = _spawn(zygote, report_target)
    with sock:
        frozen, has_json, parent = sock.recv(1024).decode().split()
    assert int(frozen) > 1000  # the imported modules' objects: no collection in the child walks them
    assert has_json == "1"
    assert int(parent) == zygote.pid
    assert _wait_exit(child) == 0


def test_a_zygote_that_died_is_started_again_on_the_next_spawn(zygote: Zygote) -> None:
    first = zygote.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the kill is asynchronous: wait until it is gone
        try:
            os.kill(first, 0)
            with open(f"/proc/{first}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.05)
    child, sock = _spawn(zygote, echo_target, b"again:")
    with sock:
        sock.sendall(b"x")
        assert sock.recv(1024) == b"again:x"
    assert zygote.pid not in (None, first)
    assert _wait_exit(child) == 0
