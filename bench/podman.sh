# Sourced by the benchmarks after bench_workspace: ctr and rootless podman run as $user, podman
# with its own configuration in the workspace: native overlay (no mount_program), runc, cgroupfs,
# file events (its pause process is ended by bench_cleanup).
#   bench_podman      writes that configuration; sets as_user, the prefix running a command as $user
#   ctr_in NAME, podman_in NAME   print the command running ctr, podman, with its store in $w/NAME
#   podman_check      exits unless podman runs that way here, rootless, with its store in $w/podman
bench_podman() {
  cat > "$w/storage.conf" << CONF
[storage]
driver = "overlay"
graphroot = "$w/podman/root"
runroot = "$w/podman/run"
rootless_storage_path = "$w/podman/root"
CONF
  cat > "$w/containers.conf" << CONF
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  chown "$user:" "$w/storage.conf" "$w/containers.conf"
  as_user="runuser -u $user -- env -i HOME=$home USER=$user PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin XDG_RUNTIME_DIR=$xdg XDG_DATA_HOME=$w/data XDG_CONFIG_HOME=$w/config CONTAINERS_CONF=$w/containers.conf CONTAINERS_STORAGE_CONF=$w/storage.conf"
}

ctr_in() { echo "$as_user $ctr --root $w/$1/root --runroot $w/$1/run"; }
podman_in() { echo "$as_user podman --root $w/$1/root --runroot $w/$1/run --storage-driver overlay"; }

podman_check() {
  local store
  store=$($(podman_in podman) info \
    --format '{{.Store.GraphRoot}} {{.Store.GraphDriverName}} native-diff={{index .Store.GraphStatus "Native Overlay Diff"}} runtime={{.Host.OCIRuntime.Name}} cgroups={{.Host.CgroupManager}} rootless={{.Host.Security.Rootless}}')
  echo "podman: $store"
  case $store in
    "$w/podman/root overlay native-diff=true runtime=runc cgroups=cgroupfs rootless=true") ;;
    *) echo "${0##*/}: podman is not set up as asked (native overlay, runc, cgroupfs, rootless)" >&2; exit 1 ;;
  esac
}
