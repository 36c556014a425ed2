#!/usr/bin/env bash
# Start-up time of the single executable (target: `ctr --version` under 60 ms). Run after npm run build.
set -euo pipefail
cd "$(dirname "$0")/.."
ls -l dist/ctr
hyperfine -N -i --warmup 5 'dist/ctr --version' 'dist/ctr version' 'dist/ctr images --help' "$@"
