#!/usr/bin/env bash
# Lays out the test guest's own Debian kernel as a built kernel tree, for the kernel-tree
# tests (building a kernel here would take hours on 2 cores):
#
#   guest/kernel-tree.sh GUEST_DIR OUTDIR
#
# OUTDIR gets what a `make` leaves that qcmdr reads: arch/x86/boot/bzImage, .config,
# include/config/kernel.release, modules.order, modules.builtin(.modinfo) and the modules
# below in their tree paths (fs/fuse/virtiofs.ko, ...). The kernel is exactly the one of
# GUEST_DIR (its kernel-version file). Cached: rebuilt only when this script or that kernel
# changes. stdout gets one line, OUTDIR.
set -euo pipefail

# The guest's own modules (its /etc/rc loads them), virtio-fs, and vfat (with fat, which it
# needs): the guest's initramfs has no vfat, so `modprobe vfat` proves modules come from here.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
         failover net_failover virtio_net virtio_blk evdev button fuse virtiofs fat vfat)

die() { printf 'guest/kernel-tree.sh: error: %s\n' "$*" >&2; exit 1; }
[[ $# == 2 ]] || die "usage: guest/kernel-tree.sh GUEST_DIR OUTDIR"
GUEST=$1
OUTDIR=$(realpath -m -- "$2")
read -r img_pkg img_ver <"$GUEST/kernel-version" || die "no $GUEST/kernel-version"
stamp="$(sha256sum "$(readlink -f "${BASH_SOURCE[0]}")" | cut -d' ' -f1) $img_pkg=$img_ver"
if [[ -r $OUTDIR/stamp && $(cat "$OUTDIR/stamp") == "$stamp" ]]; then
    echo "$OUTDIR"
    exit 0
fi

mkdir -p "$(dirname "$OUTDIR")"
exec 9>"$OUTDIR.lock"
flock 9
if [[ -r $OUTDIR/stamp && $(cat "$OUTDIR/stamp") == "$stamp" ]]; then
    echo "$OUTDIR"
    exit 0
fi
WORK=$(mktemp -d "$OUTDIR.tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && apt-get download "$img_pkg=$img_ver" >/dev/null 2>"$WORK/apt.log") ||
    { cat "$WORK/apt.log" >&2; die "apt-get download $img_pkg=$img_ver failed"; }
dpkg-deb -x "$WORK"/"$img_pkg"_*.deb "$WORK/pkg"
kver=${img_pkg#linux-image-}
moddir="$WORK/pkg/lib/modules/$kver"
[[ -d $moddir ]] || moddir="$WORK/pkg/usr/lib/modules/$kver"
T="$WORK/tree"
mkdir -p "$T/arch/x86/boot" "$T/include/config"
cp "$WORK/pkg/boot/vmlinuz-$kver" "$T/arch/x86/boot/bzImage"
cp "$WORK/pkg/boot/config-$kver" "$T/.config"
echo "$kver" >"$T/include/config/kernel.release"
for list in modules.builtin modules.builtin.modinfo; do
    [[ -f $moddir/$list ]] && cp "$moddir/$list" "$T/$list"
done
: >"$T/modules.order"
for m in "${MODULES[@]}"; do
    ko=$(cd "$moddir/kernel" && find . -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n1)
    [[ -n $ko ]] || die "module $m not found in $img_pkg"
    path=${ko#./}
    path=${path%.xz}
    path=${path%.zst}
    mkdir -p "$T/$(dirname "$path")"
    case $ko in
        *.xz) xz -dc "$moddir/kernel/$ko" >"$T/$path" ;;
        *.zst) zstd -qdc "$moddir/kernel/$ko" >"$T/$path" ;;
        *) cp "$moddir/kernel/$ko" "$T/$path" ;;
    esac
    echo "$path" >>"$T/modules.order"
done
echo "$stamp" >"$T/stamp"
rm -rf "$OUTDIR"
mv "$T" "$OUTDIR"
echo "$OUTDIR"
