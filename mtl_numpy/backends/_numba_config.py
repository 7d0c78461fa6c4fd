"""The one place for the Numba backend's compiler flags.

Every ``@njit`` in :mod:`mtl_numpy.backends.numba_backend` takes its options from
here, so the flags can be read, tested and changed in one spot.

Why not ``fastmath=True``: it turns on LLVM's ``nnan`` and ``ninf`` flags, which
let the compiler assume no value is ever NaN. The masked cost detects a '?'
label with ``y == y`` (false only for NaN); under ``nnan`` LLVM may fold that
test to ``True`` and the NaN then flows into the cost. So we list the flags we
want and leave those two out:

* ``nsz``      -- the sign of a zero may be ignored;
* ``arcp``     -- ``x / y`` may become ``x * (1 / y)``;
* ``contract`` -- ``a * b + c`` may become one fused multiply-add;
* ``afn``      -- approximate math-library calls are allowed;
* ``reassoc``  -- sums may be reassociated, which is what lets LLVM vectorise a
  reduction (a float sum kept in strict left-to-right order cannot use SIMD).

``tests/test_numba_backend.py`` checks that NaN-labelled entries still give a
finite cost and a zero gradient under these flags.
"""
from __future__ import annotations

#: LLVM fast-math flags for every compiled kernel (never ``nnan`` / ``ninf``).
FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

#: Keep compiled machine code on disk (``__pycache__``) so later processes skip compilation.
#: Numba keys its cache on the *kernel's* source file, not on this one: after changing a flag
#: here, delete ``mtl_numpy/backends/__pycache__/numba_backend.*.nb[ic]`` (or touch
#: ``numba_backend.py``), or the old machine code keeps being loaded.
CACHE = True

#: NumPy's error model: ``x / 0`` gives inf or nan instead of raising ZeroDivisionError. Python's
#: model puts a test and an exception branch on every division, which alone stops LLVM from
#: vectorising a loop that divides.
ERROR_MODEL = "numpy"

#: Options for serial kernels.
SERIAL = {"cache": CACHE, "fastmath": set(FASTMATH), "error_model": ERROR_MODEL, "nogil": True}

#: Options for kernels with a ``prange`` loop (only the masked cost: the conv, pool and dense
#: kernels are serial and ``nogil``, and run in parallel over chunks of the batch on
#: :func:`mtl_numpy.backends._cpu.cpu_pool`'s threads, with single-threaded BLAS in each chunk).
PARALLEL = dict(SERIAL, parallel=True)

#: Elements of the masked cost handled by one ``prange`` iteration (64 KiB of float32 per array):
#: large enough to amortise the scheduling, small enough to balance two to sixteen threads.
COST_CHUNK = 16384

#: Below this many entries of ``ZL`` the masked cost runs serially. The serial kernel already
#: streams at memory speed (about 1 ms per million entries); waking a thread pool pays only on
#: big inputs and an idle machine, and on a busy 2-core machine it costs milliseconds of waiting
#: for a descheduled thread (see benchmarks/RESULTS.md). ``numba.set_num_threads(1)`` forces
#: the serial kernel everywhere.
COST_PARALLEL_MIN = 1 << 20

#: Size of the convolution's scratch window matrix (im2col block, plus the block's output):
#: each thread's chunk of the batch goes through in blocks of examples whose windows fit, so
#: the buffer stays in the core's cache (1 MiB measured best on the reference CNN; 4 MiB made
#: the dA_prev product 1.8x slower) and is reused from call to call.
CONV_BLOCK_BYTES = 1 << 20
