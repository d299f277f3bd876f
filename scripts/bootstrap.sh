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
# The sanitiser's native core (native/) is built by `uv sync` with maturin and cargo.
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "bootstrap: cargo (Rust) is needed to build native/; install it with rustup (https://rustup.rs)" >&2
  exit 1
fi
export UV_PYTHON_DOWNLOADS=never
if ! compgen -G ".venv/lib/python3*/site-packages/crm_notes_native" >/dev/null; then
  echo "[bootstrap] building the native core (native/, cargo): about a minute the first time" >&2
fi
.tools/bin/uv sync --frozen --python "$(command -v python3)" --quiet
