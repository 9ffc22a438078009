"""The env cache: content-hash keys, atomic commits, a file lock, tamper detection.

Layout under the cache dir (``VCS_CONFORMANCE_CACHE_DIR``, else the
platform's user cache dir)::

    envs/<key>/venv/          the virtualenv
    envs/<key>/record.json    what was installed and every file's hash
    envs/<key>/last-used      its mtime is the last use (for ``cache prune``)
    envs/<key>.lock           the file lock for that key
    envs/.building-<key>-*    an env being built (renamed into place at the end)
    wheels/<source-hash>/     wheels built from projects and sdists

Why this shape: an env appears under its final name only complete (one
``rename``), so a reader never sees half an env; the file lock makes
parallel pytest-xdist workers and nox sessions wait for one build instead
of racing; and the recorded hashes catch an env that was modified after
the fact (a plugin writing a ``.pth`` into its own site-packages, a killed
``cache prune``), which is then rebuilt rather than trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

__all__ = [
    "CacheEntry",
    "default_cache_dir",
    "entry_lock",
    "env_key",
    "list_entries",
    "prune",
    "record_files",
    "verify_files",
]

#: Above this many recorded bytes a cache hit checks sizes and mtimes and hashes
#: only changed files; below it, every file is hashed (cheap for small plugins).
FULL_HASH_LIMIT = 64 * 1024 * 1024
RECORD = "record.json"
LAST_USED = "last-used"


def default_cache_dir() -> Path:
    """``VCS_CONFORMANCE_CACHE_DIR``, else the platform's user cache dir."""
    configured = os.environ.get("VCS_CONFORMANCE_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vcs-conformance", appauthor=False))


def env_key(parts: Mapping[str, Any]) -> str:
    """A stable hash of everything that decides an env's content."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def entry_lock(envs_dir: Path, key: str) -> FileLock:
    envs_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(envs_dir / f"{key}.lock"))


def _is_bytecode_cache(rel: str) -> bool:
    """A file in a ``__pycache__`` dir: a ``.pyc`` or importlib's temp file for one."""
    return "__pycache__" in rel.split("/")[:-1]


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _walk(root: Path) -> dict[str, os.stat_result]:
    """Every file and symlink under ``root`` (relative POSIX path -> lstat)."""
    found: dict[str, os.stat_result] = {}
    for dirpath, _dirs, files in os.walk(root):
        base = Path(dirpath)
        for name in files:
            full = base / name
            found[full.relative_to(root).as_posix()] = full.lstat()
        for name in _dirs:
            full = base / name
            if full.is_symlink():
                found[full.relative_to(root).as_posix()] = full.lstat()
    return found


def _fingerprint(path: Path, st: os.stat_result) -> str:
    if os.path.islink(path):
        return "link:" + os.readlink(path)
    return _hash(path)


def record_files(root: Path) -> dict[str, list[Any]]:
    """``{relpath: [size, mtime_ns, sha256 or link target]}`` of a finished venv."""
    return {rel: [st.st_size, st.st_mtime_ns, _fingerprint(root / rel, st)]
            for rel, st in sorted(_walk(root).items())}


def verify_files(root: Path, recorded: Mapping[str, list[Any]]) -> str | None:
    """None when ``root`` is exactly what was recorded, else the first difference.

    Byte-code caches Python writes later (files in ``__pycache__`` that are not
    in the record, including importlib's temp files while it writes one) are
    removed, not counted: they are derived, regenerable files that another
    process using the env may be writing right now, and removing them means
    a forged one cannot survive either.
    """
    current = _walk(root)
    for rel in [r for r in current if r not in recorded and _is_bytecode_cache(r)]:
        with contextlib.suppress(OSError):
            (root / rel).unlink()
        del current[rel]
    extra = sorted(set(current) - set(recorded))
    if extra:
        return f"unexpected file {extra[0]}"
    missing = sorted(set(recorded) - set(current))
    if missing:
        return f"missing file {missing[0]}"
    full = sum(int(v[0]) for v in recorded.values()) <= FULL_HASH_LIMIT
    for rel, (size, mtime_ns, digest) in recorded.items():
        st = current[rel]
        if st.st_size != size and not os.path.islink(root / rel):
            return f"changed file {rel} (size)"
        if full or st.st_mtime_ns != mtime_ns:
            try:
                if _fingerprint(root / rel, st) != digest:
                    return f"changed file {rel} (content)"
            except OSError as exc:
                return f"unreadable file {rel}: {exc.strerror or exc}"
    return None


def read_record(entry: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((entry / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_record(entry: Path, record: Mapping[str, Any]) -> None:
    tmp = entry / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, entry / RECORD)


def touch(entry: Path) -> None:
    """Mark an entry used now (``cache prune --older-than`` looks at this)."""
    marker = entry / LAST_USED
    try:
        os.utime(marker)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            marker.touch()
    except OSError:
        pass


def discard(path: Path) -> None:
    """Remove a directory so that it vanishes at once: rename aside, then delete."""
    if not path.exists():
        return
    trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, trash)
    except OSError:
        trash = path
    shutil.rmtree(trash, ignore_errors=True)


def commit(tmp: Path, final: Path) -> None:
    """Move a finished entry into place in one rename (replacing a broken one)."""
    discard(final)
    os.rename(tmp, final)


@dataclass(frozen=True)
class CacheEntry:
    """One cached env as ``vcs-conformance cache list`` shows it."""

    key: str
    path: Path
    dist_name: str | None
    version: str | None
    python: str | None
    installer: str | None
    created: float | None
    last_used: float
    size_bytes: int
    complete: bool

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "path": str(self.path), "dist_name": self.dist_name,
                "version": self.version, "python": self.python, "installer": self.installer,
                "created": self.created, "last_used": self.last_used,
                "size_bytes": self.size_bytes, "complete": self.complete}


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).lstat().st_size
    return total


def owner_key(name: str) -> str:
    """The key an entry directory belongs to (``.building-<key>-<random>`` or ``<key>``)."""
    return name.split("-")[1] if name.startswith(".building-") else name


def list_entries(cache_dir: Path) -> list[CacheEntry]:
    """Every env in the cache, newest use first; leftovers of failed builds included."""
    envs = cache_dir / "envs"
    entries: list[CacheEntry] = []
    if not envs.is_dir():
        return entries
    for path in envs.iterdir():
        if not path.is_dir() or path.name.startswith(".trash-"):
            continue
        record = read_record(path) or {}
        try:
            last = (path / LAST_USED).stat().st_mtime
        except OSError:
            last = path.stat().st_mtime
        entries.append(CacheEntry(
            key=path.name, path=path, dist_name=record.get("dist_name"),
            version=record.get("version"), python=record.get("python_version"),
            installer=record.get("installer"), created=record.get("created"),
            last_used=last, size_bytes=_size(path),
            complete=bool(record) and not path.name.startswith(".building-")))
    return sorted(entries, key=lambda e: -e.last_used)


def prune(cache_dir: Path, older_than: float | None = None, *,
          now: float | None = None) -> list[CacheEntry]:
    """Remove envs unused for ``older_than`` seconds (all when None); returns them.

    An env some process is building or verifying right now (its lock is held)
    is left alone; leftovers of builds that died are always removed.
    """
    now = time.time() if now is None else now
    removed: list[CacheEntry] = []
    envs = cache_dir / "envs"
    for entry in list_entries(cache_dir):
        if not entry.path.name.startswith(".building-") and older_than is not None \
                and now - entry.last_used < older_than:
            continue
        lock = FileLock(str(envs / f"{owner_key(entry.path.name)}.lock"))
        try:
            with lock.acquire(timeout=0):
                discard(entry.path)
        except Timeout:
            continue
        removed.append(entry)
    if envs.is_dir():
        for trash in envs.glob(".trash-*"):
            shutil.rmtree(trash, ignore_errors=True)
    wheels = cache_dir / "wheels"
    if wheels.is_dir():
        for built in wheels.iterdir():
            if built.is_dir() and (older_than is None or now - built.stat().st_mtime
                                   >= older_than):
                with contextlib.suppress(Timeout), \
                        FileLock(str(wheels / f"{owner_key(built.name)}.lock")).acquire(timeout=0):
                    discard(built)
    return removed
