#!/bin/bash
# Build the kumo "cirros" guest image: a tiny BIOS-bootable qcow2 disk made
# only from Debian packages (kernel, busybox-static, dropbear, syslinux).
#
#   images/cirros/build.sh OUTPUT.qcow2
#
# Layout of the disk: MBR (syslinux mbr.bin) + one FAT16 partition holding
# syslinux, vmlinuz and initrd.img.  The whole root file system lives in the
# initramfs (busybox init + /etc/init.d/rcS from rootfs/ next to this file).
# Nothing is mounted and no guest package is installed on the host: they are
# fetched with `apt-get download` and unpacked with `dpkg-deb -x` in a
# temporary directory.  Only the build tools of host-packages.txt are needed
# on the host; when some are missing and we are root, they get apt-get
# installed (KUMO_CIRROS_NO_HOST_INSTALL=1 turns that off).
#
# The result is cached: OUTPUT.stamp holds a hash of the recipe files
# (everything in this directory but the README); when OUTPUT exists and the
# stamp matches, the script exits at once.
#
# Environment knobs:
#   KUMO_CIRROS_KERNEL     kernel flavour meta package suffix   (cloud-amd64)
#   KUMO_CIRROS_DISK_MB    virtual disk size in MiB                    (64)
#   KUMO_CIRROS_DEB_CACHE  directory to keep/reuse downloaded .debs  (none)
#   KUMO_CIRROS_FORCE=1    rebuild even if the stamp matches
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=${0##*/}

die() { echo "$prog: error: $*" >&2; exit 1; }
log() { echo "$prog: $*" >&2; }

[[ $# -eq 1 && -n $1 ]] || die "usage: $prog OUTPUT.qcow2"
out=$1
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
stamp=$out.stamp

kflavour=${KUMO_CIRROS_KERNEL:-cloud-amd64}
disk_mb=${KUMO_CIRROS_DISK_MB:-64}
[[ $disk_mb =~ ^[0-9]+$ && $disk_mb -ge 32 ]] || die "KUMO_CIRROS_DISK_MB must be >= 32"

# --------------------------------------------------------------- caching
recipe_hash=$(
	cd "$here"
	{
		echo "kernel=$kflavour disk_mb=$disk_mb"
		find . -type f ! -name '*.md' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
	} | sha256sum | cut -d' ' -f1
)
if [[ ${KUMO_CIRROS_FORCE:-0} != 1 && -s $out && -f $stamp && $(<"$stamp") == "$recipe_hash" ]]; then
	log "$out is up to date"
	exit 0
fi

# ------------------------------------------------------------ host tools
missing=()
for tool in apt-get dpkg-deb qemu-img mkfs.fat mcopy mattrib cpio gzip ldd sha256sum; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
	hostpkgs=$(grep -v '^[[:space:]]*#' "$here/host-packages.txt" | tr '\n' ' ')
	if [[ $(id -u) == 0 && ${KUMO_CIRROS_NO_HOST_INSTALL:-0} != 1 ]]; then
		log "missing host tools (${missing[*]}): apt-get install $hostpkgs"
		# shellcheck disable=SC2086  # word splitting wanted: a package list
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			$hostpkgs >/dev/null 2>&1; then
			apt-get update -q >/dev/null
			# shellcheck disable=SC2086
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				$hostpkgs >/dev/null 2>&1
		fi
	else
		die "missing host tools: ${missing[*]} (apt-get install $hostpkgs)"
	fi
fi

# ---------------------------------------------------------------- workdir
work=$(mktemp -d "${TMPDIR:-/tmp}/kumo-cirros.XXXXXX")
cleanup() {
	local rc=$?
	rm -rf "$work"
	rm -f "$out.tmp.$$"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

debs=${KUMO_CIRROS_DEB_CACHE:-$work/debs}
mkdir -p "$debs" "$work/pkgs"
debs=$(cd "$debs" && pwd)

# deb_path NAME: the downloaded .deb for package NAME (newest if several).
deb_path() {
	local f
	f=$(find "$debs" -maxdepth 1 -name "$1_*.deb" | LC_ALL=C sort -V | tail -n 1)
	[[ -n $f ]] && echo "$f"
}

apt_updated=0
# fetch NAME...: apt-get download the packages not already in $debs.
fetch() {
	local want=() p
	for p in "$@"; do
		deb_path "$p" >/dev/null || want+=("$p")
	done
	((${#want[@]})) || return 0
	log "downloading ${want[*]}"
	if ! (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "${want[@]}" >/dev/null); then
		if [[ $apt_updated == 0 && $(id -u) == 0 ]]; then
			log "apt-get download failed, running apt-get update once"
			apt-get update -q >/dev/null
			apt_updated=1
			(cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "${want[@]}" >/dev/null)
		else
			die "apt-get download ${want[*]} failed"
		fi
	fi
}

# depends_of NAME: package names from the Depends field (first alternative,
# no versions) of the downloaded NAME.
depends_of() {
	dpkg-deb -f "$(deb_path "$1")" Depends 2>/dev/null |
		tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' |
		grep -v '^$' || true
}

# unpack NAME: extract NAME's .deb into $work/pkgs/NAME; print that dir.
unpack() {
	local d=$work/pkgs/$1
	if [[ ! -d $d ]]; then
		mkdir -p "$d"
		dpkg-deb -x "$(deb_path "$1")" "$d"
	fi
	echo "$d"
}

# ---------------------------------------------------------------- packages
meta=linux-image-$kflavour
fetch "$meta"
kpkg=$(depends_of "$meta" | grep '^linux-image-' | head -n 1)
[[ -n $kpkg ]] || die "cannot find the kernel package behind $meta"
kver=${kpkg#linux-image-}

fetch "$kpkg" busybox-static dropbear-bin syslinux syslinux-common

# Library packages dropbear needs, transitively (only lib* / zlib* packages:
# those are what end up as .so files; ldd below has the final word).
libpkgs=()
queue=(dropbear-bin)
declare -A seen=()
while ((${#queue[@]})); do
	p=${queue[0]}
	queue=("${queue[@]:1}")
	for d in $(depends_of "$p"); do
		[[ $d == lib* || $d == zlib* ]] || continue
		[[ -z ${seen[$d]:-} ]] || continue
		seen[$d]=1
		fetch "$d"
		libpkgs+=("$d")
		queue+=("$d")
	done
done

kdir=$(unpack "$kpkg")
bbdir=$(unpack busybox-static)
dbdir=$(unpack dropbear-bin)
sldir=$(unpack syslinux)
slcdir=$(unpack syslinux-common)
libpath=""
for p in "${libpkgs[@]}"; do
	d=$(unpack "$p")
	for sub in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib usr/lib; do
		[[ -d $d/$sub ]] && libpath+="${libpath:+:}$d/$sub"
	done
done

vmlinuz=$kdir/boot/vmlinuz-$kver
moddir=$kdir/lib/modules/$kver
[[ -f $vmlinuz && -d $moddir ]] || die "kernel $kver: vmlinuz or modules missing"
busybox=$bbdir/bin/busybox
[[ -x $busybox ]] || die "busybox-static has no bin/busybox"

# ------------------------------------------------------------------ rootfs
root=$work/root
mkdir -p "$root"
(cd "$root" && mkdir -p bin sbin usr/bin usr/sbin lib lib64 etc dev proc sys run tmp \
	var/log home root "lib/modules/$kver")
ln -s ../run "$root/var/run"

# busybox and its applet links
install -m 0755 "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
	[[ $applet == */* ]] || continue          # skip top-level "linuxrc"
	[[ -e $root/$applet || -L $root/$applet ]] && continue
	ln -s /bin/busybox "$root/$applet"
done
# busybox is setuid root, as on CirrOS: it is built with FEATURE_SUID and
# drops the privileges at once for every applet but those that need them
# (ping, traceroute, su, passwd, login, ...).  A separate setuid copy would
# not do: this busybox's ash runs applets by re-executing /proc/self/exe.
chmod 4755 "$root/bin/busybox"
# dropbear gives non-root users PATH=/usr/bin:/bin: make the sbin applets
# (ip, ifconfig, route, ...) reachable there too.
for applet in "$root"/sbin/* "$root"/usr/sbin/*; do
	[[ -e $root/usr/bin/${applet##*/} || -e $root/bin/${applet##*/} ]] ||
		ln -s /bin/busybox "$root/usr/bin/${applet##*/}"
done

# dropbear (server, key tool, client) and the shared libraries they need
install -m 0755 "$dbdir/usr/sbin/dropbear" "$root/usr/sbin/dropbear"
install -m 0755 "$dbdir/usr/bin/dropbearkey" "$root/usr/bin/dropbearkey"
install -m 0755 "$dbdir/usr/bin/dbclient" "$root/usr/bin/dbclient"
ln -s dbclient "$root/usr/bin/ssh"
for bin in usr/sbin/dropbear usr/bin/dropbearkey usr/bin/dbclient; do
	LD_LIBRARY_PATH=$libpath ldd "$root/$bin"
done | awk '/=>/ { print $1, $3; next } /^[[:space:]]*\// { print $1, $1 }' | sort -u |
	while read -r soname path; do
		case $soname in linux-vdso*) continue ;; esac
		[[ $path == not ]] && die "library $soname not found for dropbear"
		if [[ $soname == /* ]]; then
			# The ELF interpreter, e.g. /lib64/ld-linux-x86-64.so.2: in the
			# libc6 package that path is an absolute symlink, so take the
			# real file from the multiarch dir and link it like Debian does.
			base=${soname##*/}
			dest=/lib/x86_64-linux-gnu/$base
			src=""
			for p in "${libpkgs[@]}"; do
				for sub in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
					if [[ -e $work/pkgs/$p/$sub/$base ]]; then
						src=$work/pkgs/$p/$sub/$base
					fi
				done
			done
			if [[ -z $src ]]; then
				src=$soname
				log "warning: using host copy of $soname"
			fi
			if [[ $soname != "$dest" ]]; then
				mkdir -p "$root$(dirname "$soname")"
				ln -sf "$dest" "$root$soname"
			fi
		else
			dest=/lib/x86_64-linux-gnu/$soname
			src=$path
			[[ $src == "$work"/* ]] || log "warning: using host copy of $soname ($src)"
		fi
		mkdir -p "$root$(dirname "$dest")"
		cp -L "$src" "$root$dest"
		chmod 0755 "$root$dest"
	done
[[ -e $root/lib64/ld-linux-x86-64.so.2 ]] || die "ELF interpreter not copied"

# kernel modules, with their dependencies, in load order
declare -A modfile=() modstate=()
while IFS= read -r -d '' f; do
	n=${f##*/}
	n=${n%.ko}
	modfile[${n//-/_}]=$f
done < <(find "$moddir/kernel" -name '*.ko' -print0)
order=()
# add_mod NAME: depth-first, dependencies first
add_mod() {
	local m=${1//-/_} d deps
	[[ -n ${modfile[$m]:-} ]] || die "kernel $kver has no module $m"
	case ${modstate[$m]:-} in
		done) return 0 ;;
		busy) die "module dependency loop at $m" ;;
	esac
	modstate[$m]=busy
	deps=$(tr '\0' '\n' <"${modfile[$m]}" | sed -n 's/^depends=//p' | head -n 1)
	for d in ${deps//,/ }; do
		add_mod "$d"
	done
	modstate[$m]="done"
	order+=("$m")
}
while read -r m _; do
	[[ -z $m || $m == \#* ]] || add_mod "$m"
done <"$here/modules.txt"
: >"$root/lib/modules/load-order"
for m in "${order[@]}"; do
	cp "${modfile[$m]}" "$root/lib/modules/$kver/$m.ko"
	echo "$m" >>"$root/lib/modules/load-order"
done
log "kernel $kver, modules: ${order[*]}"

# our own files (init, inittab, rcS, udhcpc script, passwd, ...)
cp -R "$here/rootfs/." "$root/"
chmod 0755 "$root/init" "$root/etc/init.d/"* "$root/etc/udhcpc/default.script" \
	"$root/etc/acpi/PWRF/00000080" "$root/usr/bin/sudo"
chmod 0600 "$root/etc/shadow"
chmod 0700 "$root/root"
chmod 1777 "$root/tmp"
mkdir -p "$root/home/cirros/.ssh" "$root/etc/dropbear"
if [[ $(id -u) == 0 ]]; then
	mknod -m 0600 "$root/dev/console" c 5 1
	mknod -m 0666 "$root/dev/null" c 1 3
fi
echo "kumo-cirros built $(date -u +%Y-%m-%dT%H:%MZ) kernel $kver recipe ${recipe_hash:0:12}" \
	>"$root/etc/kumo-cirros-release"

initrd=$work/initrd.img
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -9 -n >"$initrd"
log "initramfs $(du -k "$initrd" | cut -f1) KiB compressed, $(du -sk "$root" | cut -f1) KiB unpacked"

# -------------------------------------------------------------- boot disk
# FAT16 partition image: kernel, initramfs, syslinux.
part_start=2048                                   # sectors (1 MiB)
disk_sectors=$((disk_mb * 2048))
part_sectors=$((disk_sectors - part_start))
fat=$work/fat.img
truncate -s $((part_sectors * 512)) "$fat"
mkfs.fat -F 16 -n KUMOBOOT -i 4b554d4f -h "$part_start" "$fat" >/dev/null
export MTOOLS_SKIP_CHECK=1 MTOOLSRC=/dev/null
mcopy -i "$fat" "$vmlinuz" ::/vmlinuz
mcopy -i "$fat" "$initrd" ::/initrd.img
mcopy -i "$fat" "$here/syslinux.cfg" ::/syslinux.cfg
"$sldir/usr/bin/syslinux" --install "$fat"
mdir -a -i "$fat" ::/ldlinux.sys >/dev/null 2>&1 || die "syslinux did not install ldlinux.sys"
if ! mdir -a -i "$fat" ::/ldlinux.c32 >/dev/null 2>&1; then
	mcopy -i "$fat" "$slcdir/usr/lib/syslinux/modules/bios/ldlinux.c32" ::/ldlinux.c32
fi

# Whole disk: syslinux MBR boot code + one bootable partition (type 0x0e,
# FAT16 LBA) + the FAT image at 1 MiB.
disk=$work/disk.img
truncate -s $((disk_sectors * 512)) "$disk"
dd if="$slcdir/usr/lib/syslinux/mbr/mbr.bin" of="$disk" bs=440 count=1 conv=notrunc status=none

# hex_le32 N: N as 4 little-endian \x escapes
hex_le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
	$((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
# hex_chs LBA: CHS address (255 heads, 63 sectors) as 3 \x escapes
hex_chs() {
	local c=$(($1 / (255 * 63))) h=$((($1 / 63) % 255)) s=$(($1 % 63 + 1))
	if ((c > 1023)); then c=1023 h=254 s=63; fi
	printf '\\x%02x\\x%02x\\x%02x' "$h" $(((s & 63) | ((c >> 2) & 192))) $((c & 255))
}
{
	printf '\x4b\x55\x4d\x4f\x00\x00'                          # disk id + reserved
	printf '\x80'                                              # bootable
	printf '%b' "$(hex_chs $part_start)"
	printf '\x0e'                                              # FAT16 LBA
	printf '%b' "$(hex_chs $((disk_sectors - 1)))"
	printf '%b' "$(hex_le32 $part_start)$(hex_le32 $part_sectors)"
	head -c 48 /dev/zero                                       # entries 2-4
	printf '\x55\xaa'
} | dd of="$disk" bs=1 seek=440 conv=notrunc status=none
dd if="$fat" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none

tmpout=$out.tmp.$$
qemu-img convert -q -f raw -O qcow2 -c "$disk" "$tmpout"
mv -f "$tmpout" "$out"
echo "$recipe_hash" >"$stamp"
log "wrote $out ($(du -k "$out" | cut -f1) KiB, virtual ${disk_mb} MiB, kernel $kver)"
