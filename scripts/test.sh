#!/usr/bin/env bash
# Set up (scripts/setup.sh --dev) and run the test suite, Docker tests included.
# Extra arguments go to pytest, e.g.  bash scripts/test.sh -m "not slow" -x
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev || exit $?
VENV="${CODEPREF_VENV:-.venv}"
"$VENV/bin/python" -m pytest -m "not gpu" "$@"
rc=$?
# pytest exits 5 when it collected no test: not a failure of the code.
if [[ $rc -eq 5 ]]; then
    echo "pytest collected no tests"
    rc=0
fi
exit $rc
