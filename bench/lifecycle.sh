#!/bin/bash
# Detached container lifecycle benchmark, rootless, image present: 20 x (`run -d`, `stop`, `rm`)
# and `ps -a` with 50 containers, ctr vs podman (native overlay, runc, cgroupfs) in one run, plus
# the resident memory of each engine's monitor (conmon) per running container.
#   sudo bench/lifecycle.sh
# Runs as root (it builds the image and starts the registry); every timed command runs as the
# non-root user $BENCH_USER (default ctrtest). Environment: BENCH_OUT=DIR (default
# /tmp/ctr-bench-lifecycle), BENCH_ROUNDS (3: rounds of 20 containers per engine, alternating),
# BENCH_RUNS (20: hyperfine runs of ps -a), BENCH_LOOPFS=SIZE (default 4G, see README.md),
# BENCH_KEEP=1 keeps the stores.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ctr=$here/dist/ctr
user=${BENCH_USER:-ctrtest}
out=${BENCH_OUT:-/tmp/ctr-bench-lifecycle}
rounds=${BENCH_ROUNDS:-3}
runs=${BENCH_RUNS:-20}
loopsize=${BENCH_LOOPFS-4G}
n=20
many=50

[ "$(id -u)" = 0 ] || { echo "lifecycle.sh: run as root (sudo bench/lifecycle.sh); the containers themselves run as $user" >&2; exit 1; }
[ -x "$ctr" ] || { echo "lifecycle.sh: $ctr is missing; run npm run build" >&2; exit 1; }
for tool in hyperfine podman skopeo runc conmon docker-registry runuser jq busybox; do
  command -v "$tool" > /dev/null || { echo "lifecycle.sh: $tool not found; install it with apt-get" >&2; exit 1; }
done
id "$user" > /dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
home=$(getent passwd "$user" | cut -d: -f6)

. "$here/bench/workspace.sh"
bench_workspace "$home/ctr-bench-lifecycle"

. "$here/scripts/local-registry.sh"
start_local_registry "$out"
reg=127.0.0.1:$port
rm -rf "$out/busybox"
"$here/scripts/busybox-oci.sh" "$out/busybox" > /dev/null
skopeo copy -q --dest-tls-verify=false "oci:$out/busybox:latest" "docker://$reg/bench/busybox:1"
image=$reg/bench/busybox:1

# podman as in run.sh: native overlay (no mount_program), runc, cgroupfs, file events.
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
declare -A base=(
  [ctr]="$as_user $ctr --root $w/ctr/root --runroot $w/ctr/run"
  [podman]="$as_user podman --root $w/podman/root --runroot $w/podman/run --storage-driver overlay"
)
for engine in ctr podman; do ${base[$engine]} pull -q --tls-verify=false "$image" > /dev/null; done
store=$(${base[podman]} info --format '{{.Store.GraphDriverName}} native-diff={{index .Store.GraphStatus "Native Overlay Diff"}} runtime={{.Host.OCIRuntime.Name}} cgroups={{.Host.CgroupManager}} rootless={{.Host.Security.Rootless}}')
echo "podman: $store"
[ "$store" = "overlay native-diff=true runtime=runc cgroups=cgroupfs rootless=true" ] || { echo "lifecycle.sh: podman is not set up as asked" >&2; exit 1; }

# A service that stops at once on SIGTERM (as pid 1 it needs a handler), the same for both.
service=(sh -c 'trap "exit 0" TERM; sleep 1000 & wait')
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
rss_of() { # mean resident memory (KiB) and count of the conmon processes of one engine's store
  ps -u "$user" -o rss=,args= | awk -v dir="$w/$1/" '$2 ~ /conmon$/ && index($0, dir) { s += $1; k++ } END { if (k) printf "%d %d", s / k, k; else print "0 0" }'
}

declare -A total=([ctr-run]=0 [ctr-stop]=0 [ctr-rm]=0 [podman-run]=0 [podman-stop]=0 [podman-rm]=0)
declare -A rss
for round in $(seq "$rounds"); do
  for engine in ctr podman; do
    b=${base[$engine]}
    t=$(date +%s%N)
    for i in $(seq $n); do $b run -d --network none --name "b$i" "$image" "${service[@]}" > /dev/null; done
    total[$engine-run]=$(( ${total[$engine-run]} + $(ms "$t") ))
    running=$($b ps -q | wc -l)
    [ "$running" = $n ] || { echo "lifecycle.sh: $engine runs $running containers, not $n" >&2; exit 1; }
    rss[$engine]=$(rss_of "$engine")
    t=$(date +%s%N)
    for i in $(seq $n); do $b stop "b$i" > /dev/null; done
    total[$engine-stop]=$(( ${total[$engine-stop]} + $(ms "$t") ))
    t=$(date +%s%N)
    for i in $(seq $n); do $b rm "b$i" > /dev/null; done
    total[$engine-rm]=$(( ${total[$engine-rm]} + $(ms "$t") ))
    [ -z "$($b ps -aq)" ] || { echo "lifecycle.sh: $engine left containers behind" >&2; exit 1; }
  done
done

for engine in ctr podman; do
  for i in $(seq $many); do ${base[$engine]} create --network none "$image" true > /dev/null; done
done
hyperfine --warmup 3 --runs "$runs" --export-markdown "$out/ps.md" --export-json "$out/ps.json" \
  -n "ctr ps -a ($many)" "${base[ctr]} ps -a" -n "podman ps -a ($many)" "${base[podman]} ps -a" > "$out/hyperfine.txt"
for engine in ctr podman; do ${base[$engine]} rm $(${base[$engine]} ps -aq) > /dev/null; done

{
  echo "stores: $w on $(if [ -n "$loopfs" ]; then echo "a fresh ext4 loop file system ($loopsize)"; else df --output=fstype "$w" | tail -1; fi); network: none for both"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)"
  echo "versions: $($ctr version | head -1), podman $(podman version --format '{{.Client.Version}}' 2> /dev/null), $(runc --version | head -1), $(conmon --version | head -1)"
  echo
  echo "ms per container, mean of $rounds rounds of $n (each command run one after the other):"
  echo
  echo "| step | ctr | podman | ctr/podman |"
  echo "|---|---:|---:|---:|"
  for step in run stop rm; do
    c=$(( ${total[ctr-$step]} / (rounds * n) )); p=$(( ${total[podman-$step]} / (rounds * n) ))
    label=$step; [ "$step" = run ] && label="run -d"
    echo "| \`$label\` | $c | $p | $(awk -v c="$c" -v p="$p" 'BEGIN { printf "%.2f", c / p }') |"
  done
  echo
  cat "$out/ps.md"
  echo
  jq -r '[.results[] | .mean] | "ctr/podman ps -a: \(.[0] / .[1] * 100 | round / 100)"' "$out/ps.json"
  read -r crss ccount <<< "${rss[ctr]}"
  read -r prss pcount <<< "${rss[podman]}"
  echo "monitor (conmon) resident memory per running container, last round: ctr ${crss} KiB ($ccount conmon), podman ${prss} KiB ($pcount conmon)"
} | tee "$out/results.txt"
