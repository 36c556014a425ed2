#!/bin/bash
# `commit` benchmark, rootless: a stopped container that wrote 100 MB (one file of random bytes
# and 1000 small files) is committed to an image, ctr vs podman (native overlay, runc, cgroupfs),
# in one hyperfine run. Before each run the committed image is removed (with its layer), so every
# run writes the layer anew. Runs as root (it starts the registry); every timed command runs as
# the non-root user $BENCH_USER (default ctrtest).
#   sudo bench/commit.sh
# Environment: BENCH_OUT=DIR (default /tmp/ctr-bench-commit), BENCH_RUNS (10), BENCH_WARMUP (2),
# BENCH_LOOPFS=SIZE (default 4G, a fresh ext4 loop file system for the stores; empty = the
# home directory's own), BENCH_KEEP=1 keeps the stores,
# BENCH_CTR=FILE times another ctr executable (default dist/ctr).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ctr=${BENCH_CTR:-$here/dist/ctr}
user=${BENCH_USER:-ctrtest}
out=${BENCH_OUT:-/tmp/ctr-bench-commit}
runs=${BENCH_RUNS:-10}
warmup=${BENCH_WARMUP:-2}
loopsize=${BENCH_LOOPFS-4G}

. "$here/bench/workspace.sh"
. "$here/bench/podman.sh"
bench_require "the containers themselves" hyperfine podman skopeo runc docker-registry runuser jq
bench_workspace "$home/ctr-bench-commit"
bench_registry
bench_busybox

bench_podman
ctr_base=$(ctr_in ctr)
podman_base=$(podman_in podman)
podman_check

# 100 MB: one 90 MB file of random bytes and 1000 files of 10 kB.
write='head -c 90000000 /dev/urandom > /big && mkdir /many && i=0 && while [ $i -lt 1000 ]; do head -c 10000 /dev/urandom > /many/$i; i=$((i+1)); done'
$ctr_base pull -q --tls-verify=false "$reg/bench/busybox:1" > /dev/null
$podman_base pull -q --tls-verify=false "$reg/bench/busybox:1" > /dev/null
$ctr_base run --name written --network none "$reg/bench/busybox:1" sh -c "$write"
$podman_base run --name written --network none "$reg/bench/busybox:1" sh -c "$write"

# Each engine once, checked: the committed image has the 100 MB.
$ctr_base commit -q written bench/committed:1 > /dev/null
$podman_base commit -q written bench/committed:1 > /dev/null
[ "$($ctr_base run --rm --network none bench/committed:1 sh -c 'ls /many | wc -l; wc -c < /big')" = "$(printf '1000\n90000000')" ] || { echo "commit.sh: ctr's committed image lacks the files" >&2; exit 1; }
[ "$($podman_base run --rm --network none bench/committed:1 sh -c 'ls /many | wc -l; wc -c < /big')" = "$(printf '1000\n90000000')" ] || { echo "commit.sh: podman's committed image lacks the files" >&2; exit 1; }

args=(--warmup "$warmup" --runs "$runs" --export-markdown "$out/commit.md" --export-json "$out/commit.json")
args+=(-n "ctr commit" --prepare "$ctr_base rmi -f bench/committed:1 > /dev/null 2>&1; sync" "$ctr_base commit -q written bench/committed:1")
args+=(-n "podman commit" --prepare "$podman_base rmi -f bench/committed:1 > /dev/null 2>&1; sync" "$podman_base commit -q written bench/committed:1")
bench_hyperfine "${args[@]}"

{
  echo "stores: $(bench_stores)"
  echo "machine: $(bench_machine)"
  echo "versions: $($ctr version | head -1), podman $(podman version --format '{{.Client.Version}}' 2> /dev/null), $(runc --version | head -1), $(hyperfine --version)"
  echo
  cat "$out/commit.md"
  echo
  jq -r '[.results[] | {key: .command, value: .mean}] | from_entries as $m | "ctr/podman commit: \($m["ctr commit"] / $m["podman commit"] * 100 | round / 100)"' "$out/commit.json"
} | tee "$out/results.txt"
