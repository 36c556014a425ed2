# Sourced by the benchmarks (after setting here, ctr, user, out): the checks, the directory under
# the user's home where every store lives, the local registry and the images, the results' header.
#   bench_require WHO TOOL...  exits unless run as root with the built ctr and TOOLs (WHO: what
#                              runs as $user, for the message); creates $user; sets home
#   bench_workspace DIR   (uses $loopsize; sets w, xdg, loopfs, registry_pid)
#   bench_registry        a registry on 127.0.0.1 storing in $out; sets reg, registry_pid
#   bench_busybox         the static busybox image, built in $out/busybox, as $reg/bench/busybox:1
#   bench_debian_layout   sets images to a directory holding images.sh's layouts (builds them into
#                         $out/images when $images has none)
#   bench_stores, bench_machine   where the stores are and what the machine is, for the results
#   aside PATH...         prints a shell command moving each existing PATH into $w/trash
#   bench_hyperfine ARG...   runs hyperfine, its command line kept in $out/command.txt
# With $loopsize set, DIR is a fresh ext4 file system in a loop file (this host's root ext4 is
# slow to create files right after mass deletions; see README.md). An EXIT trap stops the
# registry and podman's pause process and removes DIR unless BENCH_KEEP is set.
. "$here/scripts/local-registry.sh"

bench_require() {
  local who=$1 name=${0##*/} tool
  shift
  [ "$(id -u)" = 0 ] || { echo "$name: run as root (sudo bench/$name); $who run as $user" >&2; exit 1; }
  [ -x "$ctr" ] || { echo "$name: $ctr is missing; run npm run build" >&2; exit 1; }
  for tool in "$@"; do
    command -v "$tool" > /dev/null || { echo "$name: $tool not found; install it with apt-get" >&2; exit 1; }
  done
  id "$user" > /dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
  home=$(getent passwd "$user" | cut -d: -f6)
}

bench_workspace() {
  w=$1
  xdg=$w/xdg
  mkdir -p "$out"
  if mountpoint -q "$w"; then umount "$w"; fi
  rm -rf "$w" "$out/registry"
  registry_pid=
  loopfs=
  trap bench_cleanup EXIT
  mkdir -p "$w"
  if [ -n "$loopsize" ]; then
    loopfs=$out/stores.ext4
    rm -f "$loopfs"
    truncate -s "$loopsize" "$loopfs"
    mkfs.ext4 -q "$loopfs"
    mount -o loop "$loopfs" "$w"
    rm -rf "$w/lost+found"
  fi
  chown "$user:" "$w"
  chmod 0755 "$w"
  install -d -o "$user" -g "$user" -m 0700 "$xdg" "$w/trash" "$w/data" "$w/config"
}

bench_cleanup() {
  set +e
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2> /dev/null
    wait "$registry_pid" 2> /dev/null
  fi
  # podman's rootless pause process (catatonit) was started by this run: end it.
  local pause
  pause=$(cat "$xdg/libpod/tmp/pause.pid" 2> /dev/null)
  if [ -n "$pause" ]; then kill "$pause" 2> /dev/null; fi
  if [ -z "${BENCH_KEEP:-}" ]; then
    if [ -n "$loopfs" ]; then umount "$w" && rm -f "$loopfs"; fi
    rm -rf "$w"
  fi
}

bench_registry() {
  start_local_registry "$out"
  reg=127.0.0.1:$port
}

bench_busybox() {
  rm -rf "$out/busybox"
  "$here/scripts/busybox-oci.sh" "$out/busybox" > /dev/null
  skopeo copy -q --dest-tls-verify=false "oci:$out/busybox:latest" "docker://$reg/bench/busybox:1"
}

bench_debian_layout() {
  if [ ! -f "$images/debian/index.json" ]; then
    images=$out/images
    "$here/bench/images.sh" "$images" > /dev/null
  fi
}

# A store is moved aside, not deleted: on ext4 without a journal (this machine's disk) creating
# files right after deleting thousands is several times slower (recently_deleted() scans the
# inode tables). sync makes the previous run's writes land before the clock starts.
aside() {
  local p cmd=''
  for p in "$@"; do cmd+="if [ -e $p ]; then mv $p $w/trash/\$(date +%s%N); fi; "; done
  echo "${cmd}sync"
}

bench_hyperfine() {
  echo "+ hyperfine ${*@Q}" > "$out/command.txt"
  hyperfine "$@"
}

bench_stores() {
  echo "$w on $(if [ -n "$loopfs" ]; then echo "a fresh ext4 loop file system ($loopsize)"; else df --output=fstype "$w" | tail -1; fi)"
}

bench_machine() {
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
}
