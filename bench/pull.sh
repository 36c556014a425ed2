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

[ "$(id -u)" = 0 ] || { echo "pull.sh: run as root (sudo bench/pull.sh); the pulls themselves run as $user" >&2; exit 1; }
[ -x "$ctr" ] || { echo "pull.sh: $ctr is missing; run npm run build" >&2; exit 1; }
for tool in hyperfine podman skopeo docker-registry runuser jq; do
  command -v "$tool" > /dev/null || { echo "pull.sh: $tool not found; install it with apt-get" >&2; exit 1; }
done
id "$user" > /dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
home=$(getent passwd "$user" | cut -d: -f6)

# Everything the user touches lives in one directory under its home, so all stores share a disk.
. "$here/bench/workspace.sh"
bench_workspace "$home/ctr-bench"

. "$here/scripts/local-registry.sh"
start_local_registry "$out"
reg=127.0.0.1:$port
"$here/bench/images.sh" "$out/images" "$reg"

# podman's own configuration: native overlay (no mount_program), runc, cgroupfs, file events.
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
ctr_cmd="$as_user $ctr --root $w/ctr/root --runroot $w/ctr/run pull -q --tls-verify=false"
podman_cmd="$as_user podman --root $w/podman/root --runroot $w/podman/run --storage-driver overlay pull -q --tls-verify=false"
skopeo_cmd="$as_user skopeo copy -q --src-tls-verify=false"
# Cold means: no store, and no blob-info cache (podman and skopeo keep one in $XDG_DATA_HOME).
# The previous run's store is moved aside, not deleted: on ext4 without a journal (this machine's
# disk) creating files right after deleting thousands is several times slower (recently_deleted()
# scans the inode tables). sync makes the previous run's writes land before the clock starts.
aside() { # PATH... -> a shell command moving each existing PATH into $w/trash
  local p cmd=''
  for p in "$@"; do cmd+="if [ -e $p ]; then mv $p $w/trash/\$(date +%s%N); fi; "; done
  echo "${cmd}sync"
}
cache=$w/data/containers/cache
ctr_fresh=$(aside "$w/ctr")
podman_fresh=$(aside "$w/podman" "$cache")
skopeo_fresh="$(aside "$w/skopeo" "$cache") && install -d -o $user -g $user $w/skopeo"

# Check first that rootless podman pulls here, into the store and with the driver asked for.
$podman_cmd "$reg/bench/debian:1" > /dev/null
store=$($as_user podman --root "$w/podman/root" --runroot "$w/podman/run" --storage-driver overlay info \
  --format '{{.Store.GraphRoot}} {{.Store.GraphDriverName}} native-diff={{index .Store.GraphStatus "Native Overlay Diff"}} runtime={{.Host.OCIRuntime.Name}} cgroups={{.Host.CgroupManager}} rootless={{.Host.Security.Rootless}}')
echo "podman: $store"
case $store in
  "$w/podman/root overlay native-diff=true runtime=runc cgroups=cgroupfs rootless=true") ;;
  *) echo "pull.sh: podman is not set up as asked (native overlay, runc, cgroupfs, rootless)" >&2; exit 1 ;;
esac
$ctr_cmd "$reg/bench/debian:1" > /dev/null

args=(--runs "$runs" --warmup 1 --export-markdown "$out/pull.md" --export-json "$out/pull.json")
for image in debian layered; do
  ref=$reg/bench/$image:1
  args+=(-n "ctr $image" -p "$ctr_fresh" "$ctr_cmd $ref")
  args+=(-n "podman $image" -p "$podman_fresh" "$podman_cmd $ref")
  args+=(-n "skopeo $image" -p "$skopeo_fresh" "$skopeo_cmd docker://$ref oci:$w/skopeo/$image:1")
done
echo "+ hyperfine ${args[*]@Q}" > "$out/command.txt"
hyperfine "${args[@]}"

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
  echo "stores: $w on $(if [ -n "$loopfs" ]; then echo "a fresh ext4 loop file system ($loopsize)"; else df --output=fstype "$w" | tail -1; fi)"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
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
