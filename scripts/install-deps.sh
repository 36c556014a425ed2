#!/bin/bash
# Installs what ctr, its build and its tests need on Debian 12 / Ubuntu (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  ca-certificates make gcc g++ git tar gzip zstd util-linux procps iproute2
  runc crun uidmap fuse-overlayfs conmon catatonit
  docker-registry apache2-utils openssl skopeo umoci podman
  busybox-static hyperfine man-db
)
command -v npm >/dev/null || packages+=(nodejs npm)
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# The Debian package starts a registry on :5000 as a service; tests start their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
echo "install-deps: installed ${#packages[@]} packages"
