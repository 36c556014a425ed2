#!/bin/bash
# Cold pull benchmark, rootless: ctr vs podman (native overlay, runc, cgroupfs) vs skopeo copy
# into an OCI directory, for a one-layer Debian image and a 6-layer image on a local registry,
# in one hyperfine run. Runs as root (it builds the images and starts the registry); every pull
# runs as the non-root user $BENCH_USER (default ctrtest), each into a fresh empty store.
#   sudo bench/pull.sh
# Environment: BENCH_ROOTFS=DIR reuse a debootstrap tree (see images.sh), BENCH_OUT=DIR where
# images, registry data and results go (default /tmp/ctr-bench), BENCH_RUNS (default 5),
# BENCH_LOOPFS=SIZE (default 12G) the size of the fresh ext4 file system (a sparse loop file in
# BENCH_OUT) mounted over ~USER/ctr-bench for the stores, so that other work on the machine's disk
# does not disturb the numbers; BENCH_LOOPFS= (empty) uses the home directory's own file system.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ctr=$here/dist/ctr
user=${BENCH_USER:-ctrtest}
out=${BENCH_OUT:-/tmp/ctr-bench}
runs=${BENCH_RUNS:-5}
loopsize=${BENCH_LOOPFS-12G}

. "$here/bench/workspace.sh"
. "$here/bench/podman.sh"
bench_require "the pulls themselves" hyperfine podman skopeo docker-registry runuser jq
# Everything the user touches lives in one directory under its home, so all stores share a disk.
bench_workspace "$home/ctr-bench"
bench_registry
"$here/bench/images.sh" "$out/images" "$reg"

bench_podman
ctr_cmd="$(ctr_in ctr) pull -q --tls-verify=false"
podman_cmd="$(podman_in podman) pull -q --tls-verify=false"
skopeo_cmd="$as_user skopeo copy -q --src-tls-verify=false"
# Cold means: no store, and no blob-info cache (podman and skopeo keep one in $XDG_DATA_HOME);
# each run's store is moved aside (see workspace.sh).
cache=$w/data/containers/cache
ctr_fresh=$(aside "$w/ctr")
podman_fresh=$(aside "$w/podman" "$cache")
skopeo_fresh="$(aside "$w/skopeo" "$cache") && install -d -o $user -g $user $w/skopeo"

# Check first that rootless podman pulls here, into the store and with the driver asked for.
$podman_cmd "$reg/bench/debian:1" > /dev/null
podman_check
$ctr_cmd "$reg/bench/debian:1" > /dev/null

args=(--runs "$runs" --warmup 1 --export-markdown "$out/pull.md" --export-json "$out/pull.json")
for image in debian layered; do
  ref=$reg/bench/$image:1
  args+=(-n "ctr $image" -p "$ctr_fresh" "$ctr_cmd $ref")
  args+=(-n "podman $image" -p "$podman_fresh" "$podman_cmd $ref")
  args+=(-n "skopeo $image" -p "$skopeo_fresh" "$skopeo_cmd docker://$ref oci:$w/skopeo/$image:1")
done
bench_hyperfine "${args[@]}"

# Store sizes after pulling both images into fresh stores.
eval "$ctr_fresh"
eval "$podman_fresh"
for image in debian layered; do
  $ctr_cmd "$reg/bench/$image:1" > /dev/null
  $podman_cmd "$reg/bench/$image:1" > /dev/null
done
ctr_kib=$(du -s "$w/ctr/root" | cut -f1)
podman_kib=$(du -s "$w/podman/root" | cut -f1)

{
  echo "stores: $(bench_stores)"
  echo "machine: $(bench_machine)"
  echo "versions: $($ctr version | head -1), podman $(podman version --format '{{.Client.Version}}' 2> /dev/null), $(skopeo --version), $(runc --version | head -1), $(hyperfine --version)"
  echo
  cat "$out/pull.md"
  echo
  jq -r '[.results[] | {key: .command, value: .mean}] | from_entries as $m |
    ["debian", "layered"][] | "ctr/podman \(.): \($m["ctr " + .] / $m["podman " + .] * 100 | round / 100)  (ctr/skopeo \($m["ctr " + .] / $m["skopeo " + .] * 100 | round / 100))"' "$out/pull.json"
  echo
  mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
  echo "store after pulling both images (du -s): ctr $(mib "$ctr_kib") ($w/ctr/root), podman $(mib "$podman_kib") ($w/podman/root)"
} | tee "$out/results.txt"
