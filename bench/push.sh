#!/bin/bash
# Push benchmark, rootless: the Debian image (~120 MB, one layer) pushed to an empty registry on
# 127.0.0.1, ctr vs podman (native overlay, runc, cgroupfs), in one hyperfine run. Both pulled the
# image from a source registry first. Two ctr cases: `ctr copy`, the image's source registry still
# answers (ctr copies the original blob through: same digests); `ctr compress`, an image pulled
# from a registry that is gone since (ctr compresses the layer again, as podman always does here).
# Runs as root (it builds the image and starts the registries); every push runs as $BENCH_USER.
#   sudo BENCH_ROOTFS=/tmp/bench-rootfs bench/push.sh
# Environment: BENCH_ROOTFS, BENCH_IMAGES (default /tmp/ctr-bench/images, pull.sh's layouts),
# BENCH_OUT (default /tmp/ctr-bench-push), BENCH_RUNS (5), BENCH_LOOPFS (4G; see pull.sh),
# BENCH_KEEP=1 keeps the stores.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ctr=$here/dist/ctr
user=${BENCH_USER:-ctrtest}
out=${BENCH_OUT:-/tmp/ctr-bench-push}
images=${BENCH_IMAGES:-/tmp/ctr-bench/images}
runs=${BENCH_RUNS:-5}
loopsize=${BENCH_LOOPFS-4G}

. "$here/bench/workspace.sh"
. "$here/bench/podman.sh"
bench_require "the pushes themselves" hyperfine podman skopeo docker-registry runuser jq
bench_workspace "$home/ctr-bench-push"

# Three registries: the destination (emptied before every run), a source that is gone before the
# timing starts, and the source that stays (its pid is the one bench_cleanup stops).
mkdir -p "$out/dest" "$out/gone"
start_local_registry "$out/dest"
dest_pid=$registry_pid
dest=127.0.0.1:$port
start_local_registry "$out/gone"
gone_pid=$registry_pid
gone=127.0.0.1:$port
bench_registry
src=$reg
trap 'kill $dest_pid $gone_pid 2> /dev/null; bench_cleanup' EXIT

bench_debian_layout
for reg in "$src" "$gone"; do
  skopeo copy -q --dest-tls-verify=false "oci:$images/debian:1" "docker://$reg/bench/debian:1"
done

bench_podman
ctr_copy=$(ctr_in ctr)
ctr_compress=$(ctr_in ctr-gone)
podman_base=$(podman_in podman)

$ctr_copy pull -q --tls-verify=false "$src/bench/debian:1" > /dev/null
$ctr_compress pull -q --tls-verify=false "$gone/bench/debian:1" > /dev/null
$podman_base pull -q --tls-verify=false "$src/bench/debian:1" > /dev/null
kill "$gone_pid"
wait "$gone_pid" 2> /dev/null || true

podman_check

# An empty destination for every run: the registry keeps no cache, so removing its files is enough.
empty="rm -rf $out/dest/registry/docker && sync"
target=$dest/bench/debian:1
args=(--runs "$runs" --warmup 1 --prepare "$empty" --export-markdown "$out/push.md" --export-json "$out/push.json")
args+=(-n "ctr copy" "$ctr_copy push -q --tls-verify=false $src/bench/debian:1 $target")
args+=(-n "ctr compress" "$ctr_compress push -q --tls-verify=false $gone/bench/debian:1 $target")
args+=(-n "podman" "$podman_base push -q --tls-verify=false $src/bench/debian:1 $target")
bench_hyperfine "${args[@]}"

# What each one left in the registry, read back by skopeo.
eval "$empty"
for case in "ctr copy:$ctr_copy push -q --tls-verify=false $src/bench/debian:1" "ctr compress:$ctr_compress push -q --tls-verify=false $gone/bench/debian:1" "podman:$podman_base push -q --tls-verify=false $src/bench/debian:1"; do
  name=${case%%:*}
  eval "$empty"
  ${case#*:} "$target" > /dev/null
  echo "$name: $(skopeo inspect --raw --tls-verify=false "docker://$target" | jq -c '[.layers[] | {mediaType, size}]') manifest $(skopeo inspect --raw --tls-verify=false "docker://$target" | sha256sum | cut -c1-12)"
done > "$out/blobs.txt"

{
  echo "machine: $(bench_machine)"
  echo "versions: $($ctr version | head -1), podman $(podman version --format '{{.Client.Version}}' 2> /dev/null), $(hyperfine --version)"
  echo "source manifest: $(skopeo inspect --raw --tls-verify=false "docker://$src/bench/debian:1" | sha256sum | cut -c1-12)"
  cat "$out/blobs.txt"
  echo
  cat "$out/push.md"
  echo
  jq -r '[.results[] | {key: .command, value: .mean}] | from_entries as $m |
    "ctr copy/podman: \($m["ctr copy"] / $m["podman"] * 100 | round / 100), ctr compress/podman: \($m["ctr compress"] / $m["podman"] * 100 | round / 100)"' "$out/push.json"
} | tee "$out/results.txt"
