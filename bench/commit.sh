#!/bin/bash
# `commit` benchmark, rootless: a stopped container that wrote 100 MB (one file of random bytes
# and 1000 small files) is committed to an image, ctr vs podman (native overlay, runc, cgroupfs),
# in one hyperfine run. Before each run the committed image is removed (with its layer), so every
# run writes the layer anew. Runs as root (it starts the registry); every timed command runs as
# the non-root user $BENCH_USER (default ctrtest).
#   sudo bench/commit.sh
# Environment: BENCH_OUT=DIR (default /tmp/ctr-bench-commit), BENCH_RUNS (10), BENCH_WARMUP (2),
# BENCH_LOOPFS=SIZE (default 4G, a fresh ext4 loop file system for the stores; empty = the
# home directory's own), BENCH_KEEP=1 keeps the stores.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ctr=$here/dist/ctr
user=${BENCH_USER:-ctrtest}
out=${BENCH_OUT:-/tmp/ctr-bench-commit}
runs=${BENCH_RUNS:-10}
warmup=${BENCH_WARMUP:-2}
loopsize=${BENCH_LOOPFS-4G}

[ "$(id -u)" = 0 ] || { echo "commit.sh: run as root (sudo bench/commit.sh); the containers themselves run as $user" >&2; exit 1; }
[ -x "$ctr" ] || { echo "commit.sh: $ctr is missing; run npm run build" >&2; exit 1; }
for tool in hyperfine podman skopeo runc docker-registry runuser jq; do
  command -v "$tool" > /dev/null || { echo "commit.sh: $tool not found; install it with apt-get" >&2; exit 1; }
done
id "$user" > /dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
home=$(getent passwd "$user" | cut -d: -f6)

. "$here/bench/workspace.sh"
bench_workspace "$home/ctr-bench-commit"

. "$here/scripts/local-registry.sh"
start_local_registry "$out"
reg=127.0.0.1:$port

rm -rf "$out/busybox"
"$here/scripts/busybox-oci.sh" "$out/busybox" > /dev/null
skopeo copy -q --dest-tls-verify=false "oci:$out/busybox:latest" "docker://$reg/bench/busybox:1"

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
ctr_base="$as_user $ctr --root $w/ctr/root --runroot $w/ctr/run"
podman_base="$as_user podman --root $w/podman/root --runroot $w/podman/run --storage-driver overlay"

store=$($podman_base info --format '{{.Store.GraphDriverName}} native-diff={{index .Store.GraphStatus "Native Overlay Diff"}} runtime={{.Host.OCIRuntime.Name}} rootless={{.Host.Security.Rootless}}')
echo "podman: $store"
[ "$store" = "overlay native-diff=true runtime=runc rootless=true" ] || { echo "commit.sh: podman is not set up as asked (native overlay, runc, rootless)" >&2; exit 1; }

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
echo "+ hyperfine ${args[*]@Q}" > "$out/command.txt"
hyperfine "${args[@]}"

{
  echo "stores: $w on $(if [ -n "$loopfs" ]; then echo "a fresh ext4 loop file system ($loopsize)"; else df --output=fstype "$w" | tail -1; fi)"
  echo "machine: $(nproc) cores, kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "versions: $($ctr version | head -1), podman $(podman version --format '{{.Client.Version}}' 2> /dev/null), $(runc --version | head -1), $(hyperfine --version)"
  echo
  cat "$out/commit.md"
  echo
  jq -r '[.results[] | {key: .command, value: .mean}] | from_entries as $m | "ctr/podman commit: \($m["ctr commit"] / $m["podman commit"] * 100 | round / 100)"' "$out/commit.json"
} | tee "$out/results.txt"
