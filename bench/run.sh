#!/bin/bash
# `run --rm IMAGE true` benchmark, rootless, image present: ctr vs podman (native overlay, runc,
# cgroupfs), for a static busybox image and a Debian image from a local registry, in one hyperfine
# run, with `ctr --version`, `podman --version` and a bare rootless `runc run` (the floor) for
# context. Runs as root (it builds the images and starts the registry); every timed command runs
# as the non-root user $BENCH_USER (default ctrtest). Both engines run with --network none:
# podman's rootless default (slirp4netns or pasta) needs /dev/net/tun, which is 0600 root here.
#   sudo BENCH_ROOTFS=/tmp/bench-rootfs bench/run.sh
# Environment: BENCH_ROOTFS=DIR reuse a debootstrap tree (see images.sh), BENCH_IMAGES=DIR reuse
# the layouts images.sh wrote there (default /tmp/ctr-bench/images, pull.sh's), BENCH_OUT=DIR
# where images, registry data and results go (default /tmp/ctr-bench-run), BENCH_RUNS (20 per
# command, split over BENCH_ROUNDS hyperfine runs, default 10), BENCH_WARMUP (1, in each round), BENCH_LOOPFS=SIZE (default 4G) the size of the fresh ext4 file system (a sparse
# loop file in BENCH_OUT) mounted over ~USER/ctr-bench-run for the stores; BENCH_LOOPFS= (empty)
# uses the home directory's own file system. BENCH_KEEP=1 keeps the stores.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ctr=$here/dist/ctr
user=${BENCH_USER:-ctrtest}
out=${BENCH_OUT:-/tmp/ctr-bench-run}
images=${BENCH_IMAGES:-/tmp/ctr-bench/images}
runs=${BENCH_RUNS:-20}
rounds=${BENCH_ROUNDS:-10}
warmup=${BENCH_WARMUP:-1}
loopsize=${BENCH_LOOPFS-4G}

. "$here/bench/workspace.sh"
. "$here/bench/podman.sh"
bench_require "the containers themselves" hyperfine podman skopeo runc docker-registry runuser jq busybox
# Everything the user touches lives in one directory under its home (not pull.sh's, so both can be
# kept side by side).
bench_workspace "$home/ctr-bench-run"
bench_registry
bench_busybox
bench_debian_layout
skopeo copy -q --dest-tls-verify=false "oci:$images/debian:1" "docker://$reg/bench/debian:1"
echo "pushed $reg/bench/busybox:1 ($out/busybox) and $reg/bench/debian:1 ($images/debian)"

bench_podman
ctr_base=$(ctr_in ctr)
podman_base=$(podman_in podman)
for image in busybox debian; do
  $ctr_base pull -q --tls-verify=false "$reg/bench/$image:1" > /dev/null
  $podman_base pull -q --tls-verify=false "$reg/bench/$image:1" > /dev/null
done
# Check first that rootless podman runs here, from that store and with the set-up asked for.
podman_check

# The floor: runc alone, rootless, on the busybox files unpacked as the user (no overlay, no
# store), with the same namespaces as the containers (runc's rootless spec plus a network one).
bundle=$w/bundle
install -d -o "$user" -g "$user" "$bundle" "$bundle/rootfs" "$w/runc"
$as_user tar -C "$bundle/rootfs" -xzf "$out/busybox/blobs/sha256/$(jq -r '.layers[0].digest' "$out/busybox/blobs/sha256/$(jq -r '.manifests[0].digest' "$out/busybox/index.json" | cut -d: -f2)" | cut -d: -f2)"
$as_user runc spec --rootless --bundle "$bundle"
$as_user sh -c "jq '.process.terminal = false | .process.args = [\"true\"] | .linux.namespaces += [{\"type\": \"network\"}]' $bundle/config.json > $bundle/config.new && mv $bundle/config.new $bundle/config.json"

ctr_run="$ctr_base run --rm --network none"
podman_run="$podman_base run --rm --network none"
runc_run="$as_user runc --root $w/runc run --bundle $bundle floor"
# Each command once, checked: it must succeed, see only a loopback interface, and leave no container.
for image in busybox debian; do
  for engine_run in "$ctr_run" "$podman_run"; do
    $engine_run "$reg/bench/$image:1" true
    links=$($engine_run "$reg/bench/$image:1" sh -c 'grep -c : /proc/net/dev')
    [ "$links" = 1 ] || { echo "run.sh: $engine_run $image sees $links network interfaces, not only lo" >&2; exit 1; }
  done
done
$runc_run
[ -z "$($ctr_base ps -aq)" ] || { echo "run.sh: ctr run --rm left a container behind" >&2; exit 1; }
[ -z "$($podman_base ps -aq)" ] || { echo "run.sh: podman run --rm left a container behind" >&2; exit 1; }

# In rounds: hyperfine runs one command's runs back to back, and this VM's speed drifts by a third
# within a minute, so one long round compares ctr and podman at different speeds. Each round runs
# every command; the ratios come from all rounds' runs together, and per round.
args=()
for image in busybox debian; do
  args+=(-n "ctr $image" "$ctr_run $reg/bench/$image:1 true")
  args+=(-n "podman $image" "$podman_run $reg/bench/$image:1 true")
done
args+=(-n "runc run (floor)" "$runc_run")
args+=(-n "ctr --version" "$as_user $ctr --version")
args+=(-n "podman --version" "$as_user podman --version")
args+=(-n "runuser true" "$as_user true")
rm -f "$out"/run-*.json
for round in $(seq "$rounds"); do
  bench_hyperfine --warmup "$warmup" --runs "$(( (runs + rounds - 1) / rounds ))" --export-json "$out/run-$round.json" "${args[@]}"
done
# All rounds' times per command, as one hyperfine-like result list.
jq -s '. as $all | {results: [$all[0].results | keys[] as $i | {command: $all[0].results[$i].command,
  times: [$all[].results[$i].times[]]} | .mean = (.times | add / length) | .min = (.times | min) | .max = (.times | max)
  | .stddev = ((.times | map(. * .) | add / length) - .mean * .mean | sqrt)],
  rounds: [$all[] | [.results[] | {key: .command, value: .mean}] | from_entries]}' "$out"/run-*.json > "$out/run.json"
jq -r '"| Command | Mean [ms] | Min [ms] | Max [ms] |", "|:---|---:|---:|---:|",
  (.results[] | "| `\(.command)` | \(.mean * 10000 | round / 10) ± \(.stddev * 10000 | round / 10) | \(.min * 10000 | round / 10) | \(.max * 10000 | round / 10) |")' "$out/run.json" > "$out/run.md"

{
  echo "stores: $(bench_stores); network: none for both"
  echo "machine: $(bench_machine)"
  echo "versions: $($ctr version | head -1), podman $(podman version --format '{{.Client.Version}}' 2> /dev/null), $(runc --version | head -1), $(hyperfine --version)"
  echo "runs: $rounds rounds of $(( (runs + rounds - 1) / rounds )) per command"
  echo
  cat "$out/run.md"
  echo
  jq -r '.rounds as $r | ([.results[] | {key: .command, value: .mean}] | from_entries) as $m |
    ["busybox", "debian"][] as $i | "ctr/podman \($i): \($m["ctr " + $i] / $m["podman " + $i] * 100 | round / 100)" +
    " (rounds: \([$r[] | .["ctr " + $i] / .["podman " + $i] * 100 | round / 100] | map(tostring) | join(", ")))"' "$out/run.json"
} | tee "$out/results.txt"
