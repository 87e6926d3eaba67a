"""The process render workers and config sandboxes are forked from: a small pre-imported zygote.

Why not ``multiprocessing``'s forkserver: it starts a second helper, the resource tracker (~7 MB, idle for good:
nothing here uses named semaphores or shared memory), and its children inherit a heap the garbage collector has
never frozen, so the first full collection in each child writes to every inherited object's header and copies
nearly every page the forkserver shared with it. The zygote imports the worker modules once, collects, freezes
what it holds (``gc.freeze``: later collections in the children never touch those objects) and only then forks,
so the imported code and data stay shared between all workers and it.

It runs as a fresh interpreter (``python -m workers.zygote``), never as a fork of the server: the server has an
event loop and threads by the time it needs a replacement worker, and forking that is unsafe.

Protocol: one ``SOCK_SEQPACKET`` control socket. The parent sends ``pickle((target, args))`` with two descriptors
(SCM_RIGHTS): the write end of a status pipe and the child's socket. The zygote forks; the child closes what is not
its own and calls ``target(socket, *args)``. On the status pipe the zygote writes the child's pid at once and its
exit code (``os.waitstatus_to_exitcode``: negative for a signal) once it has reaped it, then closes the pipe: the
read end is the parent's sentinel, readable when the child has exited.
"""
from __future__ import annotations

import gc
import importlib
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
import weakref
from typing import Any, Callable, Sequence

from workers.pool_worker import resolve

_PID = struct.Struct("!q")
_EXIT = struct.Struct("!i")
_MAX_MESSAGE = 1 << 16
"""A spawn request is a target name and a few small arguments."""


class ZygoteError(Exception):
    """The zygote could not start a child (it could not be started itself, or died and could not be restarted)."""


class ZygoteChild:
    """What the pool and the sandbox need of a child process: ``pid``, ``sentinel``, ``exitcode``, ``join``."""

    def __init__(self, pid: int, status_fd: int) -> None:
        self.pid = pid
        self.sentinel = status_fd
        """Readable once the child exited (its exit code is there, or end of file if the zygote died)."""
        self._exitcode: int | None = None
        self._closer = weakref.finalize(self, os.close, status_fd)

    @property
    def exitcode(self) -> int | None:
        """None while it runs; then its exit code, negative for the signal that ended it."""
        if self._exitcode is None:
            self._poll(0)
        return self._exitcode

    def join(self, timeout: float | None = None) -> None:
        if self._exitcode is None:
            self._poll(timeout)

    def _poll(self, timeout: float | None) -> None:
        if not self._closer.alive:
            return
        readable, _, _ = select.select([self.sentinel], [], [], timeout)
        if not readable:
            return
        data = os.read(self.sentinel, _EXIT.size)
        if len(data) == _EXIT.size:
            (self._exitcode,) = _EXIT.unpack(data)
        else:  # the zygote died: nobody can tell this child's fate any more, so make sure it has ended
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._exitcode = -signal.SIGKILL


class Zygote:
    """Parent-side handle: starts the zygote on first use (again if it died) and asks it for children."""

    def __init__(self, preload: Sequence[str] = ()) -> None:
        self.preload = tuple(preload)
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def ensure_running(self) -> None:
        """Start the zygote unless it runs. Returns at once: it imports its modules in its own time (the first
        ``spawn`` waits for that), so the server's own imports overlap with its."""
        with self._lock:
            self._ensure_running()

    def _ensure_running(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._stop()
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        path = os.pathsep.join(entry for entry in sys.path if entry)  # the modules the parent can import
        with child_end:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(child_end.fileno()), ",".join(self.preload)],
                pass_fds=[child_end.fileno()], stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path})
        self._control = parent_end

    def spawn(self, target: Callable[..., Any], sock: socket.socket, args: tuple[Any, ...] = ()) -> ZygoteChild:
        """Fork a child running ``target(sock, *args)`` (``target`` a module-level function). ``sock`` is the
        child's end of a socket the caller keeps the other end of; the caller still closes its copy of it."""
        message = pickle.dumps((f"{target.__module__}:{target.__name__}", args), pickle.HIGHEST_PROTOCOL)
        if len(message) > _MAX_MESSAGE:
            raise ValueError("spawn request too large")
        with self._lock:
            for attempt in range(2):
                self._ensure_running()
                status_r, status_w = os.pipe()
                try:
                    assert self._control is not None
                    socket.send_fds(self._control, [message], [status_w, sock.fileno()])
                except OSError:
                    os.close(status_r)
                    self._stop()
                    continue
                finally:
                    os.close(status_w)
                data = _read_exactly(status_r, _PID.size)
                if len(data) == _PID.size:
                    return ZygoteChild(_PID.unpack(data)[0], status_r)
                os.close(status_r)  # it died meanwhile: start it again and ask once more
                self._stop()
        raise ZygoteError("the process that render workers are forked from could not be started")

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        """Stop the zygote (children it forked keep running; they exit when their sockets close)."""
        with self._lock:
            self._stop()


_SHARED: Zygote | None = None


def shared(preload: Sequence[str] = ()) -> Zygote:
    """The process-wide zygote (render workers and config sandboxes fork from the same one); ``preload`` counts
    only on the first call."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Zygote(preload)
    return _SHARED


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


# ----------------------------------------------------------------------------------------------- zygote process


def _serve(control: socket.socket) -> None:
    """Fork a child per request; report each child's exit on its status pipe; stop when the parent goes away."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # only to wake the select below
    status: dict[int, int] = {}  # child pid -> write end of its status pipe
    while True:
        readable, _, _ = select.select([control, wake_r], [], [])
        if wake_r in readable:
            while os.read(wake_r, 4096) == 4096:
                pass
            _reap(status)
        if control in readable:
            try:
                message, fds, _, _ = socket.recv_fds(control, _MAX_MESSAGE, 2)
            except OSError:
                return
            if not message:
                return  # the server closed its end: it is gone or shutting down
            if len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                continue
            status_w, child_fd = fds
            pid = os.fork()
            if pid == 0:
                keep = {status_w, child_fd}
                for fd in (wake_r, wake_w, control.fileno(), *status.values()):
                    if fd not in keep:
                        os.close(fd)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(status_w)
                _child(message, child_fd)
            os.close(child_fd)
            os.write(status_w, _PID.pack(pid))
            status[pid] = status_w
            _reap(status)


def _reap(status: dict[int, int]) -> None:
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = status.pop(pid, None)
        if fd is not None:
            try:
                os.write(fd, _EXIT.pack(os.waitstatus_to_exitcode(wait_status)))
            except OSError:
                pass  # the parent no longer listens
            os.close(fd)


def _child(message: bytes, child_fd: int) -> None:
    """In the forked child: run the target, never return into the zygote's loop."""
    code = 1
    try:
        spec, args = pickle.loads(message)
        code = resolve(spec)(socket.socket(fileno=child_fd), *args) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report it; the exit code tells the parent
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main(argv: Sequence[str]) -> None:
    control_fd, preload = int(argv[0]), [name for name in argv[1].split(",") if name]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group; the server decides
    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:  # a child that needs it reports the error where it can be seen: in its answer
            pass
    gc.collect()
    gc.freeze()  # everything imported so far stays untouched by the children's collections: the pages stay shared
    with socket.socket(fileno=control_fd) as control:
        _serve(control)


if __name__ == "__main__":
    main(sys.argv[1:])
