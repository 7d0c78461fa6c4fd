"""Bounded reading and atomic writing of .npz files (mtl_numpy.safe_npz): hostile files give a
ValueError naming the file, with memory bounded; writes are atomic and follow the umask."""
import io
import os
import stat
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtl_numpy.safe_npz import read_npz, write_npz_atomic


def _arrays():
    rng = np.random.default_rng(0)
    return {"W1": rng.standard_normal((5, 4)).astype(np.float32),
            "b1": np.zeros((5, 1), np.float32),
            "__config__": np.array('{"model": "SharedMLP"}')}


@pytest.fixture
def valid_bytes(tmp_path):
    path = tmp_path / "ok.npz"
    write_npz_atomic(path, _arrays())
    return path.read_bytes()


def test_round_trip(tmp_path):
    path = tmp_path / "m.npz"
    write_npz_atomic(path, _arrays())
    back = read_npz(path)
    for key, value in _arrays().items():
        np.testing.assert_array_equal(back[key], value)
        assert back[key].dtype == value.dtype


def test_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "m.npz"
        path.write_bytes(b"old")
        os.chmod(path, 0o600)
        write_npz_atomic(path, _arrays())
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        os.umask(0o077)
        write_npz_atomic(path, _arrays())
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(old)


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    write_npz_atomic(path, _arrays())
    before = path.read_bytes()

    def disk_full(f, **arrays):
        f.write(b"PK\x03\x04 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mtl_numpy.safe_npz.np.savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_npz_atomic(path, _arrays())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_object_arrays_never_written(tmp_path):
    with pytest.raises(ValueError, match="pickle"):
        write_npz_atomic(tmp_path / "m.npz", {"bad": np.array([object()], dtype=object)})
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_of_dead_process_removed(tmp_path):
    path = tmp_path / "m.npz"
    # a pid that cannot exist (above pid_max on Linux)
    stale = tmp_path / ".m.npz.tmp-4194999-deadbeef.npz"
    stale.write_bytes(b"half a checkpoint")
    mine = tmp_path / f".m.npz.tmp-{os.getppid()}-cafe.npz"  # a live process: kept
    mine.write_bytes(b"someone else's write in progress")
    write_npz_atomic(path, _arrays())
    assert not stale.exists()
    assert mine.exists()


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo", "unreadable"])
def test_not_a_regular_readable_file(tmp_path, kind, monkeypatch):
    path = tmp_path / "x.npz"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)          # a blocking open would hang here forever
    elif kind == "unreadable":
        path.write_bytes(b"PK\x03\x04")
        os.chmod(path, 0)
        real_open = os.open

        def denied(p, *args, **kwargs):  # as root a mode-0 file is readable: deny it as a user is
            if os.fspath(p) == os.fspath(path):
                raise PermissionError(13, "Permission denied")
            return real_open(p, *args, **kwargs)

        monkeypatch.setattr(os, "open", denied)
    with pytest.raises(ValueError, match="x.npz"):
        read_npz(path)


def test_zip_bomb_refused_before_allocation(tmp_path):
    # 1.2 GB of zeros deflates to ~1.2 MB; the declared size is over a 100 MB limit
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("W1.npy", "w", force_zip64=True) as f:
            header = io.BytesIO()
            np.lib.format.write_array_header_2_0(header, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (300_000_000,)})
            f.write(header.getvalue())
            chunk = bytes(1 << 24)
            for _ in range(1_200_000_000 // len(chunk) + 1):
                f.write(chunk)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="over the limit"):
            read_npz(path, max_bytes=100 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"peak memory {peak} bytes while refusing a zip bomb"


def test_header_declaring_more_than_member(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**8,)})
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("W1.npy", buf.getvalue() + b"\0" * 64)
    with pytest.raises(ValueError, match="declares shape"):
        read_npz(path)


@pytest.mark.parametrize("member, problem", [
    ("W1.txt", "not a .npy"),
])
def test_member_without_npy_suffix(tmp_path, member, problem):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, b"hello")
    with pytest.raises(ValueError, match=problem):
        read_npz(path)


def test_encrypted_flag_and_unknown_compression(tmp_path, valid_bytes):
    data = bytearray(valid_bytes)
    # set the encrypted bit in every central-directory entry (signature PK\x01\x02, flags at +8)
    k = data.find(b"PK\x01\x02")
    while k != -1:
        data[k + 8] |= 0x1
        k = data.find(b"PK\x01\x02", k + 4)
    path = tmp_path / "enc.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="encrypted"):
        read_npz(path)
    data = bytearray(valid_bytes)
    k = data.find(b"PK\x01\x02")
    data[k + 10:k + 12] = struct.pack("<H", 14)   # LZMA, not read
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="compression method"):
        read_npz(path)


def test_object_array_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, W1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        read_npz(path)


def test_file_size_over_limit(tmp_path, valid_bytes):
    path = tmp_path / "big.npz"
    path.write_bytes(valid_bytes)
    with pytest.raises(ValueError, match="over the limit"):
        read_npz(path, max_bytes=100)


def test_check_hook_runs_before_reading(tmp_path, valid_bytes):
    path = tmp_path / "ok.npz"
    path.write_bytes(valid_bytes)
    seen = []

    def check(members):
        seen.extend((m.name, m.shape, str(m.dtype)) for m in members)
        raise ValueError("shapes refused")

    with pytest.raises(ValueError, match="shapes refused"):
        read_npz(path, check=check)
    assert ("W1", (5, 4), "float32") in seen


@settings(max_examples=int(os.environ.get("MTL_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_files_give_value_error_or_correct_load(tmp_path, valid_bytes, data):
    """Truncations, byte flips, inserted bytes and swapped chunks: a correct load or a ValueError."""
    blob = bytearray(valid_bytes)
    op = data.draw(st.sampled_from(["truncate", "flip", "insert", "swap"]))
    if op == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif op == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            k = data.draw(st.integers(0, len(blob) - 1))
            blob[k] ^= data.draw(st.integers(1, 255))
    elif op == "insert":
        k = data.draw(st.integers(0, len(blob)))
        blob[k:k] = data.draw(st.binary(min_size=1, max_size=16))
    else:
        a, b = sorted(data.draw(st.lists(st.integers(0, len(blob)), min_size=2, max_size=2)))
        c = data.draw(st.integers(0, len(blob) - (b - a)))
        piece = blob[a:b]
        del blob[a:b]
        blob[c:c] = piece
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(blob))
    tracemalloc.start()
    try:
        try:
            out = read_npz(path, max_bytes=1 << 20)
        except ValueError as exc:
            assert "fuzz.npz" in str(exc)
            out = None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    if out is not None:  # whatever loaded is a dict of plain (non-object) arrays
        assert all(isinstance(v, np.ndarray) and not v.dtype.hasobject for v in out.values())
