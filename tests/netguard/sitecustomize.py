"""Loaded by every Python process whose PYTHONPATH holds this folder (tests only): any attempt
to open an internet socket or resolve a host name is written to $CAREAL_NETGUARD_LOG and fails.
Local (AF_UNIX) sockets still work. Used by tests/test_runs_e2e.py to prove that the default
pipeline, DVC included, makes no network connection."""

import os
import socket
import sys

_LOG = os.environ.get("CAREAL_NETGUARD_LOG")


def _record(kind, detail):
    if _LOG:
        import traceback

        frames = [f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}" for f in traceback.extract_stack()[-14:-1]]
        with open(_LOG, "a", encoding="utf-8") as handle:
            handle.write(f"pid {os.getpid()} [{' '.join(sys.argv)[:160]}] {kind} {detail!r}\n    from " + " < ".join(reversed(frames)) + "\n")
    raise OSError(f"network blocked by tests/netguard: {kind} {detail!r}")


_connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
_INET = (socket.AF_INET, socket.AF_INET6)


def connect(self, address):
    if self.family in _INET:
        _record("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in _INET:
        _record("connect_ex", address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    if self.family in _INET:
        _record("sendto", args[-1])
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    _record("getaddrinfo", host)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.socket.sendto = sendto
socket.getaddrinfo = getaddrinfo
socket.create_connection = lambda address, *a, **k: _record("create_connection", address)
