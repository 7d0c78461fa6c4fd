#!/usr/bin/env bash
# One command for a GPU machine: check the CuPy backend and time it.
#
#   bash benchmarks/gpu_check.sh              # tests, then python -m benchmarks all --plot ...
#   bash benchmarks/gpu_check.sh --quick      # shorter benchmarks (python -m benchmarks all --quick)
#   bash benchmarks/gpu_check.sh --no-bench   # tests only
#   bash benchmarks/gpu_check.sh --no-tests   # benchmarks only
#   bash benchmarks/gpu_check.sh -- steps --gpu-sizes 64,1024   # other arguments for python -m benchmarks
#
# Writes, into $OUT if it is set (the device tool's output folder) or else into benchmarks/:
#   RESULTS_gpu.md   machine, versions, test summary and every benchmark table (written as it goes,
#                    so a run cut short still leaves what it finished)
#   gpu_steps.png    time per example vs batch size, log-log, one line per backend
#   pytest_gpu.txt   full pytest output;  bench_log.txt  the benchmarks' progress log
#
# The GPU machine may have no internet: nothing here needs it. Installs are tried with pip's
# network disabled first (what is already installed there: CuPy, Numba, PyTorch), and the
# package falls back to PYTHONPATH=. if it cannot be installed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

RUN_TESTS=1
RUN_BENCH=1
QUICK=()
BENCH_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=(--quick) ;;
        --no-tests) RUN_TESTS=0 ;;
        --no-bench) RUN_BENCH=0 ;;
        --) shift; BENCH_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

DEST="${OUT:-$ROOT/benchmarks}"
mkdir -p "$DEST"
RESULTS="$DEST/RESULTS_gpu.md"
PLOT="$DEST/gpu_steps.png"

if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif command -v python >/dev/null 2>&1; then PY=python
else PY=python3; fi

# pip that never waits on a network that is not there
PIP=("$PY" -m pip install --disable-pip-version-check --retries 0 --timeout 5 -q)

say() { echo "$@" | tee -a "$RESULTS"; }

: > "$RESULTS"
say "# GPU check: mtl_numpy CuPy backend"
say ""
say "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'), \`bash benchmarks/gpu_check.sh ${QUICK[*]:-}${BENCH_ARGS[*]:+ -- ${BENCH_ARGS[*]}}\`"
say ""

echo "== setting up (python: $(command -v "$PY"))"
if ! "$PY" -c "import mtl_numpy" >/dev/null 2>&1; then
    "${PIP[@]}" --no-deps --no-build-isolation -e . >/dev/null 2>&1 \
        || "${PIP[@]}" --no-deps -e . >/dev/null 2>&1 \
        || true
fi
if ! "$PY" -c "import mtl_numpy" >/dev/null 2>&1; then
    echo "   (could not pip-install the package: using PYTHONPATH=$ROOT)"
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
fi
for mod in numpy tqdm pytest hypothesis numba cupy matplotlib; do
    if ! "$PY" -c "import $mod" >/dev/null 2>&1; then
        pkg="$mod"; [ "$mod" = cupy ] && pkg=cupy-cuda12x
        echo "   $mod missing: trying pip install $pkg"
        "${PIP[@]}" "$pkg" >/dev/null 2>&1 || echo "   ($pkg could not be installed here)"
    fi
done
if ! "$PY" -c "import pytest, hypothesis" >/dev/null 2>&1; then
    # the test extras, best effort (offline this fails fast: no harm done)
    "${PIP[@]}" -e ".[test]" >/dev/null 2>&1 || true
fi

say "## Machine"
say ""
say '```'
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L 2>&1 | tee -a "$RESULTS"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv 2>&1 | tee -a "$RESULTS"
else
    say "nvidia-smi: not found"
fi
"$PY" - <<'PYEOF' 2>&1 | tee -a "$RESULTS"
import os, platform, sys
print(f"python {platform.python_version()} ({sys.executable}), {os.cpu_count()} logical CPUs")
for mod in ("numpy", "numba", "cupy", "torch", "matplotlib", "pytest", "hypothesis", "mtl_numpy"):
    try:
        m = __import__(mod)
        print(f"{mod} {getattr(m, '__version__', '?')}")
    except Exception as exc:
        print(f"{mod}: not importable ({type(exc).__name__}: {exc})")
try:
    import cupy
    n = cupy.cuda.runtime.getDeviceCount()
    print(f"CuPy sees {n} GPU(s); CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
          f"driver {cupy.cuda.runtime.driverGetVersion()}; CUPY_TF32={os.environ.get('CUPY_TF32', 'unset')}")
except Exception as exc:
    print(f"CuPy cannot use a GPU: {type(exc).__name__}: {exc}")
try:
    import torch
    print(f"torch.cuda.is_available() = {torch.cuda.is_available()}")
except Exception:
    pass
import mtl_numpy
print("mtl_numpy.available_backends() =", mtl_numpy.available_backends())
PYEOF
say '```'
say ""

STATUS=0
if [ "$RUN_TESTS" = 1 ]; then
    TESTS=(tests/test_cupy_backend.py)
    [ -f tests/test_numba_backend.py ] && TESTS+=(tests/test_numba_backend.py)
    EXTRA=()
    if ! "$PY" -c "import hypothesis" >/dev/null 2>&1; then
        # tests/conftest.py imports hypothesis; the CuPy tests do not need it
        EXTRA=(--noconftest)
        TESTS=(tests/test_cupy_backend.py)
    fi
    echo "== tests: $PY -m pytest -q -rs ${EXTRA[*]:-} ${TESTS[*]}"
    start=$(date +%s)
    "$PY" -m pytest -q -rs "${EXTRA[@]}" "${TESTS[@]}" 2>&1 | tee "$DEST/pytest_gpu.txt"
    rc=${PIPESTATUS[0]}
    [ "$rc" -ne 0 ] && STATUS=1
    say "## Tests"
    say ""
    say "\`python -m pytest -q -rs ${EXTRA[*]:-}${EXTRA[*]:+ }${TESTS[*]}\` (exit status $rc, $(( $(date +%s) - start )) s):"
    say ""
    say '```'
    grep -E "^(FAILED|ERROR|SKIPPED)|passed|failed|error" "$DEST/pytest_gpu.txt" | tail -40 | tee -a "$RESULTS" >/dev/null
    say '```'
    say ""
fi

if [ "$RUN_BENCH" = 1 ]; then
    if [ ${#BENCH_ARGS[@]} -eq 0 ]; then
        BENCH_ARGS=(all --plot "$PLOT")
    fi
    echo "== benchmarks: $PY -m benchmarks ${BENCH_ARGS[*]} ${QUICK[*]:-}"
    say "## Benchmarks: \`python -m benchmarks ${BENCH_ARGS[*]} ${QUICK[*]:-}\`"
    say ""
    # tables on stdout go into RESULTS as they are printed; progress (stderr) to bench_log.txt
    "$PY" -m benchmarks "${BENCH_ARGS[@]}" "${QUICK[@]}" 2> >(tee "$DEST/bench_log.txt" >&2) | tee -a "$RESULTS"
    rc=${PIPESTATUS[0]}
    [ "$rc" -ne 0 ] && STATUS=1
fi

echo
echo "== wrote $RESULTS$( [ -f "$PLOT" ] && echo " and $PLOT" ) (exit status $STATUS)"
exit $STATUS
