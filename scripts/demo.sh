#!/bin/bash
# The main job, offline: a private registry on 127.0.0.1 holding a busybox image made from
# Debian's busybox-static; ctr pulls it, lists it and inspects it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ctr=$here/dist/ctr
[ -x "$ctr" ] || { echo "demo: $ctr is missing; run npm run build" >&2; exit 1; }
work=$(mktemp -d /tmp/ctr-demo.XXXXXX)
chmod 755 "$work"
registry_pid=
cleanup() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

. "$here/scripts/local-registry.sh"
start_local_registry "$work"

"$here/scripts/busybox-oci.sh" "$work/busybox" > /dev/null
skopeo copy -q --dest-tls-verify=false "oci:$work/busybox:latest" "docker://127.0.0.1:$port/library/busybox:latest"

# Run as the user who called sudo, if any: the rootless path is the one that matters.
as_user=()
if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  as_user=(runuser -u "$SUDO_USER" --)
fi
image=127.0.0.1:$port/library/busybox:latest
set -x
"${as_user[@]}" "$ctr" pull "$image"
"${as_user[@]}" "$ctr" images
"${as_user[@]}" "$ctr" inspect --format '{{.Id}} {{.Os}}/{{.Architecture}} {{json .Config.Cmd}}' "$image"
"${as_user[@]}" "$ctr" info --format '{{.store.root}} {{.idMapping.mode}}'
"${as_user[@]}" "$ctr" run --rm "$image" sh -c 'echo hello from $(hostname), as $(id -un) in the container; cat /proc/self/uid_map'
