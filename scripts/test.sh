#!/usr/bin/env bash
# Set up everything (environment, services, browser) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/services.sh up
scripts/browser.sh
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: the set-up is broken" >&2
  exit 1
fi
exit "$rc"
