#!/bin/bash
# Installs what ctr, its build and its tests need on Debian 12 / Ubuntu (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  # the build: the addon is C, strip shrinks the executable
  ca-certificates make gcc g++ binutils git tar gzip zstd xz-utils util-linux procps
  # runtimes, user namespaces and storage
  runc crun uidmap fuse-overlayfs conmon passt slirp4netns catatonit tini
  # real components the tests run against or compare with
  docker-registry skopeo umoci podman busybox-static debootstrap apache2-utils openssl
  # timing, the man page and completion tests
  hyperfine man-db groff-base zsh fish
)
command -v npm >/dev/null || packages+=(nodejs npm)
apt-get -o Acquire::Retries=3 update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# The Debian package may start a registry on :5000 as a service; ctr's tests start their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
echo "install-deps: ${#packages[@]} packages installed"
