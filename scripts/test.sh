#!/usr/bin/env bash
# Set up (scripts/setup.sh --dev) and run the default test suite: unit and Docker tests,
# without the `slow` (minutes each) and `gpu` ones. Arguments replace the marker selection
# and go to pytest, e.g.  bash scripts/test.sh -m slow   or   bash scripts/test.sh -m "not gpu" -x
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev || exit $?
VENV="${CODEPREF_VENV:-.venv}"
if (($#)); then
    "$VENV/bin/python" -m pytest "$@"
else
    "$VENV/bin/python" -m pytest -m "not gpu and not slow"
fi
rc=$?
# pytest exits 5 when it collected no test: not a failure of the code.
if [[ $rc -eq 5 ]]; then
    echo "pytest collected no tests"
    rc=0
fi
exit $rc
