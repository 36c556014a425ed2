#!/bin/bash
# One command on a fresh Debian/Ubuntu machine: install everything, build ctr, run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  scripts/install-deps.sh
else
  echo "setup: not root, so no packages are installed; run with sudo on a fresh machine" >&2
fi
# Build as the user who called sudo, so their checkout stays theirs.
as_user=()
if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  as_user=(runuser -u "$SUDO_USER" --)
fi
"${as_user[@]}" npm ci --no-audit --no-fund
"${as_user[@]}" npm run build
scripts/demo.sh
