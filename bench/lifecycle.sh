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

. "$here/bench/workspace.sh"
. "$here/bench/podman.sh"
bench_require "the containers themselves" hyperfine podman skopeo runc conmon docker-registry runuser jq busybox
bench_workspace "$home/ctr-bench-lifecycle"
bench_registry
bench_busybox
image=$reg/bench/busybox:1

bench_podman
declare -A base=([ctr]="$(ctr_in ctr)" [podman]="$(podman_in podman)")
for engine in ctr podman; do ${base[$engine]} pull -q --tls-verify=false "$image" > /dev/null; done
podman_check

# A service that stops at once on SIGTERM (as pid 1 it needs a handler), the same for both.
service=(sh -c 'trap "exit 0" TERM; sleep 1000 & wait')
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
rss_of() { # mean RSS, PSS and private memory (KiB) and count of the conmon processes of one engine's store
  local pid
  for pid in $(ps -u "$user" -o pid=,args= | awk -v dir="$w/$1/" '$2 ~ /conmon$/ && index($0, dir) { print $1 }'); do
    awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { u += $2 } END { print r, p, u }' "/proc/$pid/smaps_rollup"
  done | awk '{ r += $1; p += $2; u += $3; k++ } END { if (k) printf "%d %d %d %d", r / k, p / k, u / k, k; else print "0 0 0 0" }'
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
  echo "stores: $(bench_stores); network: none for both"
  echo "machine: $(bench_machine)"
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
  read -r crss cpss cpriv ccount <<< "${rss[ctr]}"
  read -r prss ppss ppriv pcount <<< "${rss[podman]}"
  echo "monitor (conmon) memory per running container, last round, mean KiB: ctr RSS $crss, PSS $cpss, private $cpriv ($ccount conmon); podman RSS $prss, PSS $ppss, private $ppriv ($pcount conmon)"
} | tee "$out/results.txt"
