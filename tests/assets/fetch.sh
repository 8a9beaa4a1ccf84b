#!/usr/bin/env bash
# Downloads Debian's cloud kernel and a static busybox into tests/assets/cache/
# and unpacks them there, without installing anything on the machine.
# Idempotent: a package already unpacked is left alone.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p cache
cd cache

# The metapackage only names the versioned kernel package; follow it.
kernel_package=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kernel_package" ]; then
  apt-get update -qq
  kernel_package=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
[ -n "$kernel_package" ] || { echo "fetch.sh: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }

fetch() { # package, directory to unpack into
  local package=$1 target=$2
  if [ -f "$target/.unpacked" ] && [ "$(cat "$target/.unpacked")" = "$package" ]; then
    return
  fi
  rm -rf "$target" "$package"_*.deb
  # As root, apt would drop to the _apt user, which cannot write here.
  local sandbox=()
  [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  apt-get "${sandbox[@]}" download -qq "$package"
  dpkg-deb -x "$package"_*.deb "$target"
  echo "$package" > "$target/.unpacked"
}

fetch "$kernel_package" kernel
fetch busybox-static busybox

# Stable names for the tests, whatever the version.
ln -sfn "$(cd kernel/boot && ls vmlinuz-* | head -1 | sed 's|^|kernel/boot/|')" vmlinuz
ln -sfn "$(ls -d kernel/lib/modules/* | head -1)" modules
ln -sfn busybox/bin/busybox busybox-bin
echo "fetch.sh: $kernel_package and busybox-static in $(pwd)"
