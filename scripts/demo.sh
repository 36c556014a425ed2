#!/bin/bash
# The main job, offline: a private registry on 127.0.0.1 holding a busybox image made from
# Debian's busybox-static; ctr pulls it, inspects it and runs it, in the foreground and detached.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ctr=$here/dist/ctr
[ -x "$ctr" ] || { echo "demo: $ctr is missing; run npm run build" >&2; exit 1; }
work=$(mktemp -d /tmp/ctr-demo.XXXXXX)
chmod 755 "$work"
registry_pid=
as_user=()
{ set +x; } 2> /dev/null
name=
cleanup() {
  if [ -n "$name" ]; then
    "${as_user[@]}" "$ctr" rm -f "$name" > /dev/null 2>&1 || true
  fi
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
# A detached container: no daemon, a small monitor of its own; exec into it, stop it, read its log.
name=ctr-demo-$$
"${as_user[@]}" "$ctr" run -d --name "$name" "$image" sh -c 'echo started; trap "echo stopping; exit 0" TERM; while :; do sleep 1; done'
"${as_user[@]}" "$ctr" exec "$name" sh -c 'echo hello from exec in $(hostname)'
"${as_user[@]}" "$ctr" ps --filter "name=$name" --format '{{.Names}} {{.Status}}'
"${as_user[@]}" "$ctr" stop "$name"
"${as_user[@]}" "$ctr" logs "$name"
"${as_user[@]}" "$ctr" rm "$name"
{ set +x; } 2> /dev/null
name=
