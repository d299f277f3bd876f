#!/usr/bin/env bash
# The README's first command: set everything up, then run the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/services.sh up
exec .venv/bin/crm-notes-migrate demo "$@"
