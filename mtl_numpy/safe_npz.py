r"""``.npz`` files read with bounded work and written atomically: the checkpoint format's floor.

A checkpoint is a zip archive of ``.npy`` members. A file that is small on disk can still ask for
a great deal: a zip member of zeros compresses a thousandfold, an ``.npy`` header can declare any
shape, a path can name a FIFO that blocks a reader forever. :func:`read_npz` therefore trusts
nothing before it has checked it, in this order, and never allocates or decompresses more than
``max_bytes``:

1. the path is opened without blocking (``O_NONBLOCK``) and must be a *regular* file (not a
   directory, FIFO, socket or device), no larger than ``max_bytes``;
2. the zip central directory is read (bounded by the file's size) and each member checked:
   name ending in ``.npy``, not encrypted, stored or deflated, at most :data:`MAX_MEMBERS`
   members, declared uncompressed sizes adding up to at most ``max_bytes``;
3. each member's ``.npy`` header is read (numpy bounds it to 10,000 bytes): no object dtype (that
   would need pickle), and ``prod(shape) * itemsize`` must fit in the member's declared size;
4. only then are the arrays read, with ``allow_pickle=False``; a member whose data is shorter or
   longer than its header says, or whose CRC fails, is refused.

Every failure is one :class:`ValueError` naming the file and the problem.

:func:`write_npz_atomic` writes to a temporary file in the target's folder (named after the
target and this process's id), flushes and fsyncs it, gives it the mode a plain ``open`` would
(``0o666`` less the umask, as ``np.save`` gives), and ``os.replace``-s it over the target: a
crash mid-write leaves the previous file intact, and the temporary file is removed on every
failure path. Temporary files left by a process that was killed outright (``SIGKILL`` cannot be
caught) are removed by the next write to the same target.
"""
from __future__ import annotations

import os
import stat
import zipfile
from zlib import error as zlib_error

import numpy as np
from numpy.lib import format as npy_format

__all__ = ["read_npz", "write_npz_atomic", "NpzArchive", "DEFAULT_MAX_BYTES", "MAX_MEMBERS", "NpzMember",
           "inspect_npz"]

#: Default cap on a file's size and on the sum of its arrays' sizes: 2 GiB. Raise it with
#: ``max_bytes=`` (``load_model(path, max_bytes=...)``) for a bigger model.
DEFAULT_MAX_BYTES = 2 << 30

#: At most this many arrays in one file (a model has two per layer).
MAX_MEMBERS = 4096

_NPY_HEADER_MAX = 10000


class NpzMember:
    """What a member's headers say, before its data is read: ``name``, ``shape``, ``dtype``."""

    __slots__ = ("name", "shape", "dtype", "info")

    def __init__(self, name, shape, dtype, info):
        self.name, self.shape, self.dtype, self.info = name, shape, dtype, info

    @property
    def nbytes(self):
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def __repr__(self):
        return f"NpzMember({self.name!r}, shape={self.shape}, dtype={self.dtype})"


def _fail(path, problem):
    return ValueError(f"{path!r} {problem}")


def _open_regular(path, max_bytes, what):
    """Open ``path`` for reading without blocking; refuse anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise _fail(path, f"does not exist (expected a {what} .npz file)") from None
    except IsADirectoryError:
        raise _fail(path, f"is a directory; expected a {what} .npz file") from None
    except PermissionError:
        raise _fail(path, "cannot be read: permission denied") from None
    except OSError as exc:
        raise _fail(path, f"cannot be opened: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(path, f"is a directory; expected a {what} .npz file")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(path, f"is not a regular file (a FIFO, socket or device?); expected a "
                              f"{what} .npz file")
        if info.st_size > max_bytes:
            raise _fail(path, f"is {info.st_size:,} bytes, over the limit of {max_bytes:,} "
                              "(raise it with max_bytes= if you trust this file)")
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)   # a regular file: ordinary reads from here on
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _member_header(archive, info, path):
    try:
        with archive.open(info) as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(f, max_header_size=_NPY_HEADER_MAX)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npy_format.read_array_header_2_0(f, max_header_size=_NPY_HEADER_MAX)
            else:
                raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, EOFError, OSError, SyntaxError, TypeError, RuntimeError, zipfile.BadZipFile,
            NotImplementedError, zlib_error) as exc:
        raise _fail(path, f"member {info.filename!r} has no valid .npy header: {exc}") from None
    if dtype.hasobject:
        raise _fail(path, f"member {info.filename!r} holds Python objects (dtype {dtype}), "
                          "which only pickle can load; refused")
    if any(int(n) < 0 for n in shape):
        raise _fail(path, f"member {info.filename!r} declares a negative shape {shape}")
    return NpzMember(info.filename[:-4], tuple(int(n) for n in shape), dtype, info)


def inspect_npz(f, path, max_bytes):
    """Check an open ``.npz`` file's zip directory and ``.npy`` headers; return its members.

    Reads only the central directory and each member's header (a few hundred bytes each).
    """
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise _fail(path, f"is not a readable .npz file (corrupted or truncated?): {exc}") from None
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _fail(path, f"has {len(infos)} members; at most {MAX_MEMBERS} expected")
    total, members, names = 0, [], set()
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise _fail(path, f"member {info.filename!r} is not a .npy array")
        if info.filename in names:
            raise _fail(path, f"has the member {info.filename!r} twice")
        names.add(info.filename)
        if info.flag_bits & 0x1:
            raise _fail(path, f"member {info.filename!r} is encrypted; refused")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _fail(path, f"member {info.filename!r} uses compression method "
                              f"{info.compress_type}; only stored (0) and deflated (8) are read")
        total += info.file_size
        if total > max_bytes:
            raise _fail(path, f"declares {total:,}+ bytes of arrays, over the limit of "
                              f"{max_bytes:,} (raise it with max_bytes= if you trust this file)")
    for info in infos:
        member = _member_header(archive, info, path)
        if member.nbytes > info.file_size:
            raise _fail(path, f"member {info.filename!r} declares shape {member.shape} of "
                              f"{member.dtype} ({member.nbytes:,} bytes) in {info.file_size:,} bytes")
        members.append(member)
    return archive, members


class NpzArchive:
    """An ``.npz`` file opened with bounded work: headers checked, arrays read on demand.

    ``with NpzArchive(path, max_bytes=...) as npz:`` runs steps 1-3 of the module docstring;
    ``npz.members`` then maps each array's name to its :class:`NpzMember` (shape and dtype from
    its header) and ``npz.read(name)`` reads one array (step 4). A caller can thus compare the
    shapes with what it expects -- a model's architecture -- before anything big is read.
    """

    def __init__(self, path, *, max_bytes=DEFAULT_MAX_BYTES, what="checkpoint"):
        self.path = os.fspath(path)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive int; got {max_bytes!r}")
        self.max_bytes = int(max_bytes)
        self._file = _open_regular(self.path, self.max_bytes, what)
        try:
            if self._file.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
                raise _fail(self.path, "is not a readable .npz file (corrupted or truncated?): it "
                                       "does not start like a zip archive")
            self._file.seek(0)
            self._archive, members = inspect_npz(self._file, self.path, self.max_bytes)
        except BaseException:
            self._file.close()
            raise
        self.members = {member.name: member for member in members}

    def read(self, name):
        """The array ``name``, read without pickle; ValueError if its data is not as declared."""
        member = self.members[name]
        try:
            with self._archive.open(member.info) as g:
                array = npy_format.read_array(g, allow_pickle=False, max_header_size=_NPY_HEADER_MAX)
                if g.read(1):
                    raise ValueError("data longer than its header declares")
        except (ValueError, EOFError, OSError, zipfile.BadZipFile, RuntimeError,
                NotImplementedError, zlib_error) as exc:
            raise _fail(self.path, f"member {member.info.filename!r} cannot be read "
                                   f"(corrupted or truncated?): {exc}") from None
        return array

    def close(self):
        self._archive.close()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_npz(path, *, max_bytes=DEFAULT_MAX_BYTES, what="checkpoint", check=None):
    """Read every array of an ``.npz`` file with bounded work; see the module docstring.

    Parameters
    ----------
    path : str or os.PathLike
    max_bytes : int, default :data:`DEFAULT_MAX_BYTES`
        Cap on the file's size and on the sum of its arrays' declared sizes.
    what : str
        Word used in error messages ("checkpoint").
    check : callable, optional
        ``check(members)`` with the list of :class:`NpzMember` (names, shapes, dtypes) before any
        array is read; raise ``ValueError`` to refuse the file (e.g. shapes against a config).

    Returns
    -------
    dict of str to ndarray
    """
    with NpzArchive(path, max_bytes=max_bytes, what=what) as npz:
        if check is not None:
            check(list(npz.members.values()))
        return {name: npz.read(name) for name in npz.members}


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------

def _umask():
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_prefix(path):
    return f".{os.path.basename(path)}.tmp-"


def _remove_stale_temps(path):
    """Remove temporary files of earlier writes to ``path`` whose process no longer exists."""
    folder, prefix = os.path.dirname(path) or ".", _temp_prefix(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue                      # that writer is still alive: leave its file alone
        except ProcessLookupError:
            pass
        except (PermissionError, OSError):
            continue                      # alive (another user's) or unknown: leave it
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def write_npz_atomic(path, arrays):
    """Write ``arrays`` (a dict of NumPy arrays) to ``path`` as an ``.npz``, atomically.

    ``path`` is used as given (the caller adds the ``.npz`` suffix). The file gets mode
    ``0o666 & ~umask``; a file it replaces is replaced whole.
    """
    path = os.fspath(path)
    for key, value in arrays.items():
        if np.asarray(value).dtype.hasobject:
            raise ValueError(f"arrays[{key!r}] holds Python objects, which only pickle could "
                             "store; expected numbers or strings")
    folder = os.path.dirname(os.path.abspath(path))
    _remove_stale_temps(os.path.abspath(path))
    tmp = os.path.join(folder, f"{_temp_prefix(path)}{os.getpid()}-{os.urandom(4).hex()}.npz")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        try:
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
