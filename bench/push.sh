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

[ "$(id -u)" = 0 ] || { echo "push.sh: run as root (sudo bench/push.sh); the pushes themselves run as $user" >&2; exit 1; }
[ -x "$ctr" ] || { echo "push.sh: $ctr is missing; run npm run build" >&2; exit 1; }
for tool in hyperfine podman skopeo docker-registry runuser jq; do
  command -v "$tool" > /dev/null || { echo "push.sh: $tool not found; install it with apt-get" >&2; exit 1; }
done
id "$user" > /dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
home=$(getent passwd "$user" | cut -d: -f6)

. "$here/bench/workspace.sh"
bench_workspace "$home/ctr-bench-push"

# Three registries: the destination (emptied before every run), a source that is gone before the
# timing starts, and the source that stays (its pid is the one bench_cleanup stops).
. "$here/scripts/local-registry.sh"
mkdir -p "$out/dest" "$out/gone"
start_local_registry "$out/dest"
dest_pid=$registry_pid
dest=127.0.0.1:$port
start_local_registry "$out/gone"
gone_pid=$registry_pid
gone=127.0.0.1:$port
start_local_registry "$out"
src=127.0.0.1:$port
trap 'kill $dest_pid $gone_pid 2> /dev/null; bench_cleanup' EXIT

if [ ! -f "$images/debian/index.json" ]; then
  images=$out/images
  "$here/bench/images.sh" "$images" > /dev/null
fi
for reg in "$src" "$gone"; do
  skopeo copy -q --dest-tls-verify=false "oci:$images/debian:1" "docker://$reg/bench/debian:1"
done

cat > "$w/storage.conf" << EOF
[storage]
driver = "overlay"
graphroot = "$w/podman/root"
runroot = "$w/podman/run"
rootless_storage_path = "$w/podman/root"
EOF
cat > "$w/containers.conf" << EOF
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
chown "$user:" "$w/storage.conf" "$w/containers.conf"

as_user="runuser -u $user -- env -i HOME=$home USER=$user PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin XDG_RUNTIME_DIR=$xdg XDG_DATA_HOME=$w/data XDG_CONFIG_HOME=$w/config CONTAINERS_CONF=$w/containers.conf CONTAINERS_STORAGE_CONF=$w/storage.conf"
ctr_copy="$as_user $ctr --root $w/ctr/root --runroot $w/ctr/run"
ctr_compress="$as_user $ctr --root $w/ctr-gone/root --runroot $w/ctr-gone/run"
podman_base="$as_user podman --root $w/podman/root --runroot $w/podman/run --storage-driver overlay"

$ctr_copy pull -q --tls-verify=false "$src/bench/debian:1" > /dev/null
$ctr_compress pull -q --tls-verify=false "$gone/bench/debian:1" > /dev/null
$podman_base pull -q --tls-verify=false "$src/bench/debian:1" > /dev/null
kill "$gone_pid"
wait "$gone_pid" 2> /dev/null || true

store=$($podman_base info --format '{{.Store.GraphRoot}} {{.Store.GraphDriverName}} rootless={{.Host.Security.Rootless}}')
echo "podman: $store"
[ "$store" = "$w/podman/root overlay rootless=true" ] || { echo "push.sh: podman is not set up as asked (overlay, rootless)" >&2; exit 1; }

# An empty destination for every run: the registry keeps no cache, so removing its files is enough.
empty="rm -rf $out/dest/registry/docker && sync"
target=$dest/bench/debian:1
args=(--runs "$runs" --warmup 1 --prepare "$empty" --export-markdown "$out/push.md" --export-json "$out/push.json")
args+=(-n "ctr copy" "$ctr_copy push -q --tls-verify=false $src/bench/debian:1 $target")
args+=(-n "ctr compress" "$ctr_compress push -q --tls-verify=false $gone/bench/debian:1 $target")
args+=(-n "podman" "$podman_base push -q --tls-verify=false $src/bench/debian:1 $target")
echo "+ hyperfine ${args[*]@Q}" > "$out/command.txt"
hyperfine "${args[@]}"

# What each one left in the registry, read back by skopeo.
eval "$empty"
for case in "ctr copy:$ctr_copy push -q --tls-verify=false $src/bench/debian:1" "ctr compress:$ctr_compress push -q --tls-verify=false $gone/bench/debian:1" "podman:$podman_base push -q --tls-verify=false $src/bench/debian:1"; do
  name=${case%%:*}
  eval "$empty"
  ${case#*:} "$target" > /dev/null
  echo "$name: $(skopeo inspect --raw --tls-verify=false "docker://$target" | jq -c '[.layers[] | {mediaType, size}]') manifest $(skopeo inspect --raw --tls-verify=false "docker://$target" | sha256sum | cut -c1-12)"
done > "$out/blobs.txt"

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "versions: $($ctr version | head -1), podman $(podman version --format '{{.Client.Version}}' 2> /dev/null), $(hyperfine --version)"
  echo "source manifest: $(skopeo inspect --raw --tls-verify=false "docker://$src/bench/debian:1" | sha256sum | cut -c1-12)"
  cat "$out/blobs.txt"
  echo
  cat "$out/push.md"
  echo
  jq -r '[.results[] | {key: .command, value: .mean}] | from_entries as $m |
    "ctr copy/podman: \($m["ctr copy"] / $m["podman"] * 100 | round / 100), ctr compress/podman: \($m["ctr compress"] / $m["podman"] * 100 | round / 100)"' "$out/push.json"
} | tee "$out/results.txt"
