"""Files of a run: file: URIs, reading, and outputs written atomically (fsync, rename) only on success."""
from __future__ import annotations

import os
from typing import Optional

from ..errors import CmpError, CredentialError


def file_path(source: str, what: str = "file") -> str:
    """The path a source names: ``file:path``, ``file:///abs/path``, ``file://localhost/abs``
    (an existing file whose name starts with ``file:`` is that file)."""
    if not source.startswith("file:") or os.path.exists(source):
        return source
    rest = source[5:]
    if rest.startswith("//"):
        authority, _, path = rest[2:].partition("/")
        if authority not in ("", "localhost"):
            raise CredentialError(f"cannot load {what}: unsupported host '{authority}' in file URI "
                                  f"(use file:///path)")
        return "/" + path
    return rest


_TEMPORARIES: set = set()   # temporary outputs of this process not yet renamed: removed at exit


def write_atomically(path: str, data: bytes, mode: Optional[int] = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, fsync it,
    rename it over ``path`` and fsync the directory, so that ``path`` holds either its old
    content or all of ``data``, also after a crash or power loss. The file gets ``mode``
    (default 0666) less the umask, as a plain open() and openssl give. CmpError naming the
    file on failure; the temporary file never outlives the call."""
    directory, name = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = -1
    for attempt in range(100):
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.{attempt}.cmpkit-tmp")
        try:
            fd = os.open(tmp, flags, 0o666 if mode is None else mode)
            break
        except FileExistsError:  # left by a killed run with our pid
            continue
        except OSError as exc:
            raise CmpError(f"cannot write '{path}': {exc.strerror}") from None
    if fd < 0:
        raise CmpError(f"cannot write '{path}': no free temporary name in '{directory}'")
    _TEMPORARIES.add(tmp)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _TEMPORARIES.discard(tmp)
        _fsync_directory(directory)
    except OSError as exc:
        raise CmpError(f"cannot write '{path}': {exc.strerror}") from None
    finally:
        if tmp in _TEMPORARIES:
            _TEMPORARIES.discard(tmp)
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _fsync_directory(directory: str) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # a directory that cannot be opened for reading (some platforms): the rename stands
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def remove_temporaries() -> None:
    """Remove temporary outputs still in flight (called when the process is interrupted)."""
    for tmp in list(_TEMPORARIES):
        _TEMPORARIES.discard(tmp)
        try:
            os.unlink(tmp)
        except OSError:
            pass


def read_bytes(source: str, what: str) -> bytes:
    """The content of the file ``source`` names (a path or file: URI); CredentialError naming ``what``."""
    path = file_path(source, what)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CredentialError(f"cannot read {what} from '{path}': {exc.strerror or exc}") from None
