# Sourced by the benchmarks: the directory under the user's home where every store lives.
#   bench_workspace DIR   (uses $out, $user, $loopsize; sets w, xdg, loopfs, registry_pid)
# With $loopsize set, DIR is a fresh ext4 file system in a loop file (this host's root ext4 is
# slow to create files right after mass deletions; see README.md). An EXIT trap stops the
# registry and podman's pause process and removes DIR unless BENCH_KEEP is set.
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
