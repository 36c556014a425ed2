#!/bin/bash
# save and load benchmark, rootless: `ctr save`/`ctr load` vs `podman save`/`podman load`
# (native overlay, private --root) of the ~120 MB one-layer Debian image, in one hyperfine run.
# save: image present, docker-archive written to a file. load: each engine's own archive into a
# fresh empty store each time. Runs as root (set-up); every timed command runs as $BENCH_USER.
#   sudo BENCH_ROOTFS=/tmp/bench-rootfs bench/save-load.sh
# Environment: BENCH_ROOTFS=DIR reuse a debootstrap tree (see images.sh), BENCH_IMAGES=DIR reuse
# the layouts images.sh wrote there (default /tmp/ctr-bench/images, pull.sh's), BENCH_OUT=DIR
# (default /tmp/ctr-bench-save), BENCH_RUNS (5), BENCH_LOOPFS=SIZE (default 4G, see pull.sh),
# BENCH_KEEP=1 keeps the stores, BENCH_CTR=FILE times another ctr executable (default dist/ctr).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ctr=${BENCH_CTR:-$here/dist/ctr}
user=${BENCH_USER:-ctrtest}
out=${BENCH_OUT:-/tmp/ctr-bench-save}
images=${BENCH_IMAGES:-/tmp/ctr-bench/images}
runs=${BENCH_RUNS:-5}
loopsize=${BENCH_LOOPFS-4G}

. "$here/bench/workspace.sh"
. "$here/bench/podman.sh"
bench_require "save and load" hyperfine podman runuser jq
bench_workspace "$home/ctr-bench-save"
bench_debian_layout

bench_podman
install -d -o "$user" -g "$user" "$w/archives"
image=bench/debian:1

# The image in each engine's store, from the OCI layout (its ref.name is "1"), under one name.
$(ctr_in ctr) load -q -i "$images/debian" > /dev/null
$(ctr_in ctr) tag "$($(ctr_in ctr) images -q | head -1)" "$image"
$(podman_in podman) load -q -i "$images/debian" > /dev/null
$(podman_in podman) tag "$($(podman_in podman) images -q | head -1)" "$image"
ctr_id=$($(ctr_in ctr) images -q --no-trunc "$image")
podman_id=$($(podman_in podman) images -q --no-trunc "$image" | sort -u | tr -d ' \n')
echo "image ids: ctr $ctr_id, podman $podman_id"

podman_check

ctr_save="$(ctr_in ctr) save -o $w/archives/ctr.tar $image"
podman_save="$(podman_in podman) save -q -o $w/archives/podman.tar $image"
ctr_load="$(ctr_in ctr-load) load -q -i $w/archives/ctr.tar"
podman_load="$(podman_in podman-load) load -q -i $w/archives/podman.tar"

# Each once, checked: both archives load back into an empty store with the image's id.
$ctr_save
$podman_save
$ctr_load > /dev/null
$podman_load > /dev/null
loaded=$($(ctr_in ctr-load) images -q --no-trunc)
[ "$loaded" = "$ctr_id" ] || { echo "save-load.sh: ctr load gave $loaded, not $ctr_id" >&2; exit 1; }
loaded=$($(podman_in podman-load) images -q --no-trunc | sort -u | tr -d ' \n')
[ "${loaded#sha256:}" = "${podman_id#sha256:}" ] || { echo "save-load.sh: podman load gave $loaded, not $podman_id" >&2; exit 1; }
echo "archives: ctr $(stat -c %s "$w/archives/ctr.tar") bytes, podman $(stat -c %s "$w/archives/podman.tar") bytes"

args=(--runs "$runs" --warmup 1 --export-markdown "$out/save-load.md" --export-json "$out/save-load.json")
args+=(-n "ctr save" -p "rm -f $w/archives/ctr.tar; sync" "$ctr_save")
args+=(-n "podman save" -p "rm -f $w/archives/podman.tar; sync" "$podman_save")
args+=(-n "ctr load" -p "$(aside "$w/ctr-load")" "$ctr_load")
args+=(-n "podman load" -p "$(aside "$w/podman-load")" "$podman_load")
bench_hyperfine "${args[@]}"

{
  echo "stores: $(bench_stores)"
  echo "machine: $(bench_machine)"
  echo "versions: $($ctr version | head -1), podman $(podman version --format '{{.Client.Version}}' 2> /dev/null), $(hyperfine --version)"
  echo
  cat "$out/save-load.md"
  echo
  jq -r '[.results[] | {key: .command, value: .mean}] | from_entries as $m |
    ["save", "load"][] | "ctr/podman \(.): \($m["ctr " + .] / $m["podman " + .] * 100 | round / 100)"' "$out/save-load.json"
} | tee "$out/results.txt"
