#!/usr/bin/env bash
# Builds a small bootable Debian disk for the vm tier's full-OS path, without mounting anything:
#   partition 1  FAT, syslinux (the disk's own bootloader) + the Debian kernel and initrd
#   partition 2  ext4 root filesystem from debootstrap (mkfs.ext4 -d at the partition's offset)
# The guest runs systemd; a unit prints STRATA-DEBIAN-BOOTED on the serial console once it is up, and the
# ACPI power button shuts it down cleanly (systemd-logind, which needs dbus).
#
#   scripts/build-debian-disk.sh [OUT.qcow2]     (default: ~/.cache/strata/debian-disk.qcow2)
#   DEBIAN_MIRROR=http://deb.debian.org/debian SUITE=bookworm
#
# Needs root, debootstrap, syslinux, mtools, dosfstools, fdisk, e2fsprogs, qemu-utils (scripts/deps/vm.txt).
# Downloads ~150 MB from the Debian mirror; takes a few minutes.
set -euo pipefail
out="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/strata/debian-disk.qcow2}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="${SUITE:-bookworm}"
marker="STRATA-DEBIAN-BOOTED"
work="$(mktemp -d /var/tmp/strata-debian-XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/root"

debootstrap --variant=minbase --include=linux-image-cloud-amd64,systemd-sysv,udev,initramfs-tools,dbus \
  "$suite" "$root" "$mirror"

echo strata-debian > "$root/etc/hostname"
cat > "$root/etc/fstab" <<'EOF'
/dev/vda2 / ext4 defaults,errors=remount-ro 0 1
EOF
cat > "$root/etc/systemd/system/strata-marker.service" <<EOF
[Unit]
Description=Tell the host this guest booted
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo $marker > /dev/ttyS0'

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/strata-marker.service "$root/etc/systemd/system/multi-user.target.wants/strata-marker.service"
# No getty on the console (nobody logs in; it would only add noise to the log).
rm -f "$root/etc/systemd/system/getty.target.wants/"*
# Drop what a disk image does not need.
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*

kernel="$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)"
initrd="$(ls "$root"/boot/initrd.img-* | sort -V | tail -1)"

boot_mib=64
root_bytes=$(( $(du -sb "$root" | cut -f1) * 5 / 4 + 256 * 1024 * 1024 ))
root_mib=$(( root_bytes / 1024 / 1024 ))
total_mib=$(( 1 + boot_mib + root_mib ))
disk="$work/disk.raw"
truncate -s "${total_mib}M" "$disk"
sfdisk -q "$disk" <<EOF
label: dos
1MiB,${boot_mib}MiB,c,*
,,83
EOF
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$disk" bs=440 count=1 conv=notrunc status=none

boot_offset=$(( 1024 * 1024 ))
root_offset=$(( (1 + boot_mib) * 1024 * 1024 ))
# Partition 1: FAT with syslinux, kernel, initrd (mtools writes into the image at an offset; nothing is mounted).
truncate -s "${boot_mib}M" "$work/boot.fat"
mkfs.vfat -h 2048 -n STRATABOOT "$work/boot.fat" > /dev/null
cat > "$work/syslinux.cfg" <<'EOF'
SERIAL 0 115200
DEFAULT debian
TIMEOUT 0
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=/dev/vda2 ro console=ttyS0 quiet
EOF
export MTOOLS_SKIP_CHECK=1
mcopy -i "$work/boot.fat" "$kernel" ::/vmlinuz
mcopy -i "$work/boot.fat" "$initrd" ::/initrd.img
mcopy -i "$work/boot.fat" "$work/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$work/boot.fat"
dd if="$work/boot.fat" of="$disk" bs=1M seek=1 conv=notrunc status=none
# Partition 2: ext4 from the directory, written at its offset.
mkfs.ext4 -q -F -L strata-debian -E offset="$root_offset" -d "$root" "$disk" "${root_mib}M"

mkdir -p "$(dirname "$out")"
qemu-img convert -O qcow2 "$disk" "$out.tmp"
mv "$out.tmp" "$out"
echo "built $out ($(du -h "$out" | cut -f1)); boot marker: $marker"
