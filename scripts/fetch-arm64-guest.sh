#!/usr/bin/env bash
# Fetches what the vm tier needs to boot arm64 guests on an amd64 host, without enabling multiarch:
# Debian's arm64 cloud kernel (linux-image-cloud-arm64) and arm64 busybox-static, downloaded with apt from
# Debian's mirror (a private arm64 package list, so the host's apt state is untouched) and unpacked into
#   DEST/vmlinuz-RELEASE            the kernel (an uncompressed arm64 Image; QEMU -kernel boots it)
#   DEST/lib/modules/RELEASE/       its modules, with modules.dep made by depmod
#   DEST/busybox                    arm64 busybox-static, for the guest init and the arm64 busybox image
# DEST: $1, else $STRATA_ARM64_GUEST_DIR, else /usr/local/share/strata/guest/arm64 (where stratad looks).
# Idempotent: does nothing when DEST already holds a kernel and busybox. Needs apt-get and dpkg-deb, and kmod.
set -euo pipefail
dest="${1:-${STRATA_ARM64_GUEST_DIR:-/usr/local/share/strata/guest/arm64}}"

if [ -f "$dest/busybox" ] && compgen -G "$dest/vmlinuz-*-arm64" >/dev/null; then
  echo "fetch-arm64-guest: $dest already has $(basename "$(ls "$dest"/vmlinuz-*-arm64 | tail -1)") and busybox"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # apt's _apt user downloads into it
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/x"
touch "$work/status"
apt_arm64() {
  apt-get -q -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::status="$work/status" "$@"
}
echo "fetch-arm64-guest: reading Debian's arm64 package lists"
apt_arm64 update >/dev/null
# linux-image-cloud-arm64 is a metapackage: its one dependency is the versioned kernel package.
kernel_pkg="$(apt-cache -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::status="$work/status" \
    depends linux-image-cloud-arm64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-arm64\).*/\1/p' | head -1)"
if [ -z "$kernel_pkg" ]; then
  echo "fetch-arm64-guest: could not resolve linux-image-cloud-arm64 to a kernel package" >&2
  exit 1
fi
echo "fetch-arm64-guest: downloading $kernel_pkg and busybox-static (arm64)"
(cd "$work/debs" && apt_arm64 download "$kernel_pkg" busybox-static 2>&1 | grep -v 'unsandboxed' || true)
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/x"; done

kernel="$(ls "$work"/x/boot/vmlinuz-*-arm64 | tail -1)"
release="$(basename "$kernel")"; release="${release#vmlinuz-}"
modules="$(if [ -d "$work/x/lib/modules/$release" ]; then echo "$work/x/lib/modules/$release"; else echo "$work/x/usr/lib/modules/$release"; fi)"
[ -f "$work/x/bin/busybox" ] || { echo "fetch-arm64-guest: busybox-static had no /bin/busybox" >&2; exit 1; }

# Install atomically: a half-written DEST never looks complete.
rm -rf "$dest.new" && mkdir -p "$dest.new/lib/modules"
cp "$kernel" "$dest.new/vmlinuz-$release"
cp -a "$modules" "$dest.new/lib/modules/$release"
depmod -b "$dest.new" "$release"
install -m 0755 "$work/x/bin/busybox" "$dest.new/busybox"
mkdir -p "$(dirname "$dest")" && rm -rf "$dest" && mv "$dest.new" "$dest"
echo "fetch-arm64-guest: $dest has vmlinuz-$release, its modules and busybox"
