# Sourced by guest/build.sh and guest/build-arch.sh (part of both cache stamps).
#
# copy_modules MODDIR PACKAGE DEST MODULE...: each module from the kernel package's MODDIR
# into DEST, flat and uncompressed, in the given order, failing (die) on a module the
# package lacks or one whose dependencies do not come before it in the list: the guest's
# /etc/rc loads them in exactly that order with insmod.
copy_modules() {
    local moddir=$1 package=$2 dest=$3
    shift 3
    local loaded=" " m ko deps d
    for m in "$@"; do
        ko=$(find "$moddir" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n1)
        [[ -n $ko ]] || die "module $m not found in $package"
        case $ko in
            *.ko) cp "$ko" "$dest/$m.ko" ;;
            *.xz) xz -dc "$ko" >"$dest/$m.ko" ;;
            *.zst) zstd -qdc "$ko" >"$dest/$m.ko" ;;
            *.gz) gzip -dc "$ko" >"$dest/$m.ko" ;;
        esac
        deps=$(grep -a -o 'depends=[A-Za-z0-9_,-]*' "$dest/$m.ko" | head -n1 | cut -d= -f2 | tr ',' ' ')
        for d in $deps; do
            [[ $loaded == *" $d "* ]] || die "module $m needs $d, which is not loaded before it"
        done
        loaded+="$m "
    done
}
