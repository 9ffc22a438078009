"""Landlock through ``ctypes`` (standard library only: the basic launcher loads it).

Why our own binding: this file runs inside the pre-exec launcher under
``python -I`` before the plugin's interpreter starts, where no third-party
package may be imported.  Landlock confines the filesystem (and, from ABI 4,
TCP; from ABI 6, abstract unix sockets and signals) of the calling process
and everything it execs, without privileges.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterable

_CREATE, _ADD_RULE, _RESTRICT = 444, 445, 446  # syscall numbers (all architectures)
_VERSION_FLAG = 1
_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_DIR_WRITE = sum(1 << n for n in range(4, 13))  # remove/make dir, file, sock, fifo, symlink...
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE | _IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The kernel's Landlock ABI (0: not available)."""
    try:
        result = int(_libc().syscall(_CREATE, None, 0, _VERSION_FLAG))
    except (OSError, AttributeError):
        return 0
    return max(result, 0)


def _fs_rights(abi: int) -> int:
    rights = EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | _DIR_WRITE
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def restrict(readonly: Iterable[str], writable: Iterable[str], *, network: bool) -> dict[str, bool]:
    """Confine this process: read ``readonly``, read and write ``writable``, nothing else.

    Returns what was enforced, for the report: ``filesystem``, ``tcp``,
    ``abstract_unix`` and ``signals``.  Paths that do not exist are skipped.
    """
    abi = abi_version()
    if abi < 1:
        return {"filesystem": False, "tcp": False, "abstract_unix": False, "signals": False}
    libc = _libc()
    handled = _fs_rights(abi)
    net = 0 if network or abi < 4 else _NET_BIND_TCP | _NET_CONNECT_TCP
    scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("QQQ", handled, net, scoped)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    buf = ctypes.create_string_buffer(attr[:size], size)
    ruleset = int(libc.syscall(_CREATE, buf, ctypes.c_size_t(size), 0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        read_rights = EXECUTE | READ_FILE | READ_DIR
        for paths, rights in ((readonly, read_rights), (writable, handled)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = rights & handled
                    if not os.path.isdir(path):
                        allowed &= _FILE_ONLY
                    rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                    if libc.syscall(_ADD_RULE, ruleset, _PATH_BENEATH, rule, 0) < 0:
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
                finally:
                    os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if libc.syscall(_RESTRICT, ruleset, 0) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return {"filesystem": True, "tcp": bool(net), "abstract_unix": bool(scoped),
            "signals": bool(scoped)}
