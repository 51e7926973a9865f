#!/usr/bin/env bash
# Run every benchmark in bench/ (each prints its figures beside their targets);
# fail when one of them fails. Extra arguments are passed to bench/lookup.py only
# when given as BENCH_LOOKUP_ARGS, e.g. BENCH_LOOKUP_ARGS="--reuse" make bench.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
failed=()
for script in bench/*.py; do
    name=$(basename "$script")
    [ "$name" = "common.py" ] && continue
    echo "=== $name"
    args=()
    if [ "$name" = "lookup.py" ] && [ -n "${BENCH_LOOKUP_ARGS:-}" ]; then
        read -r -a args <<< "$BENCH_LOOKUP_ARGS"
    fi
    if ! "$PY" "$script" "${args[@]}"; then
        failed+=("$name")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "All benchmarks met their targets."
