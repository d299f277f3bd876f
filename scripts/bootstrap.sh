#!/usr/bin/env bash
# Creates the project's environment in .venv/ from the lock file (uv.lock), idempotently.
# uv itself is installed, pinned, into .tools/ from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
if [ ! -x .tools/bin/uv ] || ! .tools/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  python3 -m venv .tools
  .tools/bin/pip install -q "uv==$UV_VERSION"
fi
export UV_PYTHON_DOWNLOADS=never
.tools/bin/uv sync --frozen --python "$(command -v python3)" --quiet
