#!/bin/bash
# Builds the two benchmark images as OCI layouts and, given a registry, pushes them there:
#   bench/debian:1   a Debian bookworm minbase root filesystem (~120 MB uncompressed), ONE gzip layer
#   bench/layered:1  the same files split into 6 layers by directory, plus a small top layer
# Usage (as root: debootstrap needs it):
#   images.sh OUT_DIR [REGISTRY]     e.g. images.sh /tmp/bench-images 127.0.0.1:5000
# BENCH_ROOTFS=DIR reuses a finished `debootstrap --variant=minbase bookworm` tree (read only);
# without it the script runs debootstrap into OUT_DIR/rootfs (a few minutes, needs deb.debian.org).
set -euo pipefail
out=${1:?usage: images.sh OUT_DIR [REGISTRY]}
registry=${2:-}
mirror=${BENCH_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$out"
out=$(cd "$out" && pwd)

rootfs=${BENCH_ROOTFS:-}
if [ -z "$rootfs" ]; then
  rootfs=$out/rootfs
  if [ ! -x "$rootfs/bin/sh" ]; then
    command -v debootstrap > /dev/null || { echo "images.sh: debootstrap not found; apt-get install debootstrap" >&2; exit 1; }
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$out/debootstrap.log" 2>&1 \
      || { echo "images.sh: debootstrap failed, see $out/debootstrap.log" >&2; exit 1; }
  fi
fi
[ -x "$rootfs/bin/sh" ] || { echo "images.sh: $rootfs is not a root filesystem (no bin/sh)" >&2; exit 1; }

work=$(mktemp -d "$out/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)

# A fixed mtime, sorted names and numeric owners make every layer reproducible; apt's caches and
# package lists, the build host's /dev nodes, and logs and caches stamped with the build time
# stay out, so two debootstraps of the same mirror state on the same day give the same digests.
tar_layer() { # TAR_FILE DIR TAR_ARGS...
  local file=$1 dir=$2
  shift 2
  tar --sort=name --mtime=2024-01-01T00:00:00Z --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --anchored --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*' --exclude='./dev/*' \
    --exclude='./var/log/*' --exclude=./var/cache/ldconfig/aux-cache \
    -C "$dir" -cf "$file" "$@"
}

# Adds a gzip layer made from TAR_FILE to the layout in OUT; appends "diff_id digest size" to OUT/layers.
add_layer() { # OUT TAR_FILE
  local dest=$1 tarfile=$2 diff_id digest
  diff_id=$(sha256sum < "$tarfile" | cut -d' ' -f1)
  gzip -n -6 < "$tarfile" > "$tarfile.gz"
  digest=$(sha256sum < "$tarfile.gz" | cut -d' ' -f1)
  mkdir -p "$dest/blobs/sha256"
  mv "$tarfile.gz" "$dest/blobs/sha256/$digest"
  echo "$diff_id $digest $(stat -c %s "$dest/blobs/sha256/$digest")" >> "$dest/layers"
  rm -f "$tarfile"
}

put_blob() { # OUT FILE -> prints "digest size"
  local digest
  digest=$(sha256sum < "$2" | cut -d' ' -f1)
  cp "$2" "$1/blobs/sha256/$digest"
  echo "$digest $(stat -c %s "$2")"
}

# Writes config, manifest, index.json and oci-layout for the layers listed in OUT/layers.
finish_layout() { # OUT TAG DESCRIPTION
  local dest=$1 tag=$2 what=$3 diff_ids='' layers='' history='' d g s config csize manifest msize
  while read -r d g s; do
    diff_ids+="${diff_ids:+,}\"sha256:$d\""
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$g\",\"size\":$s}"
    history+="${history:+,}{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"bench/images.sh: $what\"}"
  done < "$dest/layers"
  printf '{"created":"2024-01-01T00:00:00Z","architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[%s]}' \
    "$arch" "$diff_ids" "$history" > "$work/config.json"
  read -r config csize < <(put_blob "$dest" "$work/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$config" "$csize" "$layers" > "$work/manifest.json"
  read -r manifest msize < <(put_blob "$dest" "$work/manifest.json")
  printf '{"imageLayoutVersion":"1.0.0"}' > "$dest/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$msize" "$tag" > "$dest/index.json"
  echo "$dest: $(wc -l < "$dest/layers") layer(s), manifest sha256:$manifest"
  rm -f "$dest/layers"
}

debian=$out/debian
rm -rf "$debian"
mkdir -p "$debian"
tar_layer "$work/layer.tar" "$rootfs" .
echo "debian: $(( $(stat -c %s "$work/layer.tar") / 1000000 )) MB uncompressed"
add_layer "$debian" "$work/layer.tar"
finish_layout "$debian" 1 "debootstrap --variant=minbase bookworm"

# Each layer holds its directories' parents (without their contents) so it unpacks on its own.
layered=$out/layered
rm -rf "$layered"
mkdir -p "$layered"
tar_layer "$work/l1.tar" "$rootfs" --exclude=./usr/lib --exclude=./usr/share --exclude=./usr/bin --exclude=./usr/sbin --exclude=./var .
tar_layer "$work/l2.tar" "$rootfs" --no-recursion ./usr --recursion ./usr/lib
tar_layer "$work/l3.tar" "$rootfs" --no-recursion ./usr --recursion ./usr/share
tar_layer "$work/l4.tar" "$rootfs" --no-recursion ./usr --recursion ./usr/bin ./usr/sbin
tar_layer "$work/l5.tar" "$rootfs" ./var
top=$work/top
mkdir -p "$top/etc" "$top/usr/local/bin"
printf 'bench layered image: top layer\n' > "$top/etc/bench-release"
printf '#!/bin/sh\necho hello from the top layer\n' > "$top/usr/local/bin/hello"
chmod 755 "$top/usr/local/bin/hello"
tar_layer "$work/l6.tar" "$top" --owner=0 --group=0 .
for n in 1 2 3 4 5 6; do add_layer "$layered" "$work/l$n.tar"; done
finish_layout "$layered" 1 "debootstrap --variant=minbase bookworm, split by directory"

if [ -n "$registry" ]; then
  skopeo copy -q --dest-tls-verify=false "oci:$debian:1" "docker://$registry/bench/debian:1"
  skopeo copy -q --dest-tls-verify=false "oci:$layered:1" "docker://$registry/bench/layered:1"
  echo "pushed $registry/bench/debian:1 and $registry/bench/layered:1"
fi
