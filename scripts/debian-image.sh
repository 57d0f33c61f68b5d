#!/bin/bash
# Build kumo's Debian 12 (bookworm) guest image with the real cloud-init.
#
#   scripts/debian-image.sh [--upload] OUTPUT.qcow2
#
# --upload: then, when the cloud of OS_CLOUD (default admin) answers, make it
# the public image `debian` (qcow2, os_distro=debian, virtio disk and NIC,
# min_disk 1 GB, min_ram 256 MB) unless `debian` already holds this build
# (property kumo_recipe); an older `debian` image is deleted first.
#
# debootstrap (minbase) from the Debian archive, then apt-get (no recommends)
# of: the cloud kernel, initramfs-tools, systemd, cloud-init, openssh-server,
# ifupdown + isc-dhcp-client + net-tools (cloud-init's ENI renderer, as on
# Debian's own cloud images; its static routes are `route add` lines and
# its DNS servers dns-nameservers lines, applied by resolvconf), sudo.  cloud-init is limited to the ConfigDrive, OpenStack
# and Ec2 data sources; its default user is `debian` (passwordless sudo, ssh
# keys only).  The kernel logs to ttyS0, so `openstack console log show`
# shows the boot and cloud-init's output.
#
# Disk layout (MBR, BIOS boot, nothing is mounted to build it):
#   partition 1  FAT16 "KUMOBOOT" (64 MiB): syslinux, vmlinuz, initrd.img
#   partition 2  ext4 "kumo-root" (the rest): the root file system, made
#                with `mkfs.ext4 -d` from the debootstrap tree; last on the
#                disk so cloud-init's growpart can grow it.
# The kernel and initramfs are copies of /boot at build time (a kernel
# upgrade inside the guest is not booted until the image is rebuilt).
#
# Cached: OUTPUT.stamp holds a hash of this script and the knobs below; when
# OUTPUT exists and the stamp matches, the script exits at once.
#
# Environment knobs:
#   KUMO_DEBIAN_MIRROR   Debian archive          (http://deb.debian.org/debian)
#   KUMO_DEBIAN_DISK_MB  virtual disk size, MiB (1024: flavor m1.tiny)  (1024)
#   KUMO_DEBIAN_FORCE=1  rebuild even if the stamp matches
# Root only (debootstrap, chroot).  Host tools: debootstrap qemu-utils
# dosfstools mtools syslinux e2fsprogs (scripts/host-packages.txt).
set -euo pipefail
export LC_ALL=C

prog=${0##*/}
die() { echo "$prog: error: $*" >&2; exit 1; }
log() { echo "$prog: $(date -u +%H:%M:%S) $*" >&2; }

upload=0
if [[ ${1:-} == --upload ]]; then
	upload=1
	shift
fi
[[ $# -eq 1 && -n $1 ]] || die "usage: $prog [--upload] OUTPUT.qcow2"
[[ $(id -u) == 0 ]] || die "must run as root (debootstrap, chroot)"
out=$1
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
stamp=$out.stamp

mirror=${KUMO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
disk_mb=${KUMO_DEBIAN_DISK_MB:-1024}
[[ $disk_mb =~ ^[0-9]+$ && $disk_mb -ge 1024 ]] || die "KUMO_DEBIAN_DISK_MB must be >= 1024"
suite=bookworm
packages=(linux-image-cloud-amd64 initramfs-tools zstd systemd systemd-sysv udev dbus
	cloud-init openssh-server ifupdown isc-dhcp-client net-tools resolvconf iproute2 netbase sudo less)

# ---------------------------------------------------------------- caching
recipe_hash=$({
	sha256sum <"${BASH_SOURCE[0]}"
	echo "mirror=$mirror disk_mb=$disk_mb packages=${packages[*]}"
} | sha256sum | cut -d' ' -f1)
# upload_image: make $out the cloud's image `debian` (see --upload above).
upload_image() {
	local os=(openstack --os-cloud "${OS_CLOUD:-admin}") ids id have
	if ! command -v openstack >/dev/null 2>&1 || ! "${os[@]}" token issue -f value -c id >/dev/null 2>&1; then
		log "no cloud answers (OS_CLOUD=${OS_CLOUD:-admin}): image not uploaded"
		return 0
	fi
	ids=$("${os[@]}" image list --name debian -f value -c ID)
	for id in $ids; do
		have=$("${os[@]}" image show "$id" -f json -c properties -c status |
			python3 -c 'import json,sys; d=json.load(sys.stdin); p=d.get("properties") or {}; print(p.get("kumo_recipe", "") if d.get("status") == "active" else "")')
		if [[ $have == "$recipe_hash" ]]; then
			log "image debian ($id) is up to date"
			return 0
		fi
		log "deleting the older image debian ($id)"
		"${os[@]}" image delete "$id"
	done
	log "uploading $out as image debian"
	"${os[@]}" image create debian --public --disk-format qcow2 --container-format bare \
		--min-disk 1 --min-ram 256 --file "$out" \
		--property os_distro=debian --property os_version=12 --property os_type=linux \
		--property hw_disk_bus=virtio --property hw_vif_model=virtio \
		--property os_admin_user=debian --property kumo_recipe="$recipe_hash" -f value -c id
}

if [[ ${KUMO_DEBIAN_FORCE:-0} != 1 && -s $out && -f $stamp && $(<"$stamp") == "$recipe_hash" ]]; then
	log "$out is up to date"
	((upload)) && upload_image
	exit 0
fi

for tool in debootstrap qemu-img mkfs.fat mcopy mkfs.ext4 sfdisk; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "missing $tool (apt-get install debootstrap qemu-utils dosfstools mtools syslinux e2fsprogs fdisk)"
done
syslinux_bin=$(command -v syslinux || true)
mbr_bin=/usr/lib/syslinux/mbr/mbr.bin
ldlinux_c32=/usr/lib/syslinux/modules/bios/ldlinux.c32
[[ -n $syslinux_bin && -f $mbr_bin && -f $ldlinux_c32 ]] ||
	die "missing syslinux (apt-get install syslinux syslinux-common)"

# ---------------------------------------------------------------- workdir
work=$(mktemp -d "${TMPDIR:-/var/tmp}/kumo-debian.XXXXXX")
root=$work/root
mounted=()
cleanup() {
	local rc=$? m i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		m=${mounted[i]}
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$work"
	rm -f "$out.tmp.$$"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --------------------------------------------------------------- rootfs
log "debootstrap $suite (minbase) from $mirror"
debootstrap --variant=minbase --merged-usr "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

for m in proc sys dev dev/pts; do
	case $m in
		proc) mount -t proc proc "$root/proc" ;;
		sys) mount -t sysfs sys "$root/sys" ;;
		dev) mount --bind /dev "$root/dev" ;;
		dev/pts) mount -t devpts devpts "$root/dev/pts" ;;
	esac
	mounted+=("$root/$m")
done

# No service starts in the chroot; no docs, man pages or translations.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cat >"$root/etc/dpkg/dpkg.cfg.d/01-kumo-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
cat >"$root/etc/apt/apt.conf.d/01-kumo" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
# initramfs: only what a virtio guest needs to mount its root disk.
mkdir -p "$root/etc/initramfs-tools/conf.d"
echo "MODULES=list" >"$root/etc/initramfs-tools/conf.d/kumo"
cat >>"$root/etc/initramfs-tools/modules" <<'EOF'
virtio_pci
virtio_blk
virtio_scsi
virtio_net
# the config drive: an IDE CD-ROM (ata_piix) with ISO 9660
ata_piix
sr_mod
isofs
EOF

log "apt-get install ${packages[*]}"
chroot "$root" /bin/sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${packages[*]}" \
	>"$work/apt.log" 2>&1 || { tail -n 40 "$work/apt.log" >&2; die "apt-get install failed"; }

# ---------------------------------------------------------- configuration
root_uuid=6b756d6f-6465-6269-616e-726f6f742d31
cat >"$root/etc/fstab" <<EOF
UUID=$root_uuid / ext4 defaults,errors=remount-ro 0 1
EOF
# cloud-init: only the OpenStack data sources (and EC2), no probing of others.
cat >"$root/etc/cloud/cloud.cfg.d/90-kumo.cfg" <<'EOF'
# kumo: OpenStack-compatible cloud; config drive first, then the metadata service.
datasource_list: [ConfigDrive, OpenStack, Ec2, None]
datasource:
  OpenStack:
    max_wait: 60
    timeout: 10
    retries: 5
  Ec2:
    max_wait: 60
    timeout: 10
    strict_id: false
# RSA host keys take long to make under emulation (TCG).
ssh_genkeytypes: [ed25519, ecdsa]
ssh_deletekeys: true
ssh_pwauth: false
# sudo and friends resolve the hostname cloud-init sets; no locale generation (C.UTF-8 is built in).
manage_etc_hosts: true
locale: C.UTF-8
EOF
echo "LANG=C.UTF-8" >"$root/etc/default/locale"
# No ds-identify search: it runs as a systemd generator, before the IDE CD-ROM holding the
# config drive shows up, and would then leave ConfigDrive out. cloud-init-local tries the
# list above in order itself (a config drive is found with blkid, no network needed).
cat >"$root/etc/cloud/ds-identify.cfg" <<'EOF'
policy: enabled
EOF
# First boot state: no host keys, no machine id, no hostname, no cloud-init run.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
echo localhost >"$root/etc/hostname"
# No DNS servers of the build host: resolvconf fills resolv.conf from DHCP or network_data.json.
rm -f "$root/etc/resolvconf/resolv.conf.d/original" "$root/run/resolvconf/resolv.conf"
[[ -L $root/etc/resolv.conf ]] || ln -sf ../run/resolvconf/resolv.conf "$root/etc/resolv.conf"
rm -rf "$root/var/lib/cloud"/*
# Only lo in interfaces(5): cloud-init writes interfaces.d/50-cloud-init.
cat >"$root/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback

source /etc/network/interfaces.d/*
EOF
# Do not wait minutes for a network that will not come.
mkdir -p "$root/etc/systemd/system/networking.service.d"
cat >"$root/etc/systemd/system/networking.service.d/kumo.conf" <<'EOF'
[Service]
TimeoutStartSec=90
EOF
# No periodic jobs in a test guest (apt, fstrim, e2scrub, dpkg backups).
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
	fstrim.timer e2scrub_reap.service; do
	chroot "$root" systemctl disable "$unit" >/dev/null 2>&1 || true
	chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true
done
kver=$(cd "$root/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
[[ -n $kver && -f $root/boot/initrd.img-$kver ]] || die "no kernel/initramfs in /boot"
echo "kumo-debian built $(date -u +%Y-%m-%dT%H:%MZ) kernel $kver recipe ${recipe_hash:0:12}" \
	>"$root/etc/kumo-image-release"

rm -f "$root/usr/sbin/policy-rc.d"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log \
	"$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*
for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
	umount "${mounted[i]}" || umount -l "${mounted[i]}"
done
mounted=()

# ------------------------------------------------------------------ disk
boot_mb=64
part1_start=2048                                   # sectors
part1_sectors=$((boot_mb * 2048))
part2_start=$((part1_start + part1_sectors))
disk_sectors=$((disk_mb * 2048))
part2_sectors=$((disk_sectors - part2_start))

fat=$work/boot.img
truncate -s $((part1_sectors * 512)) "$fat"
mkfs.fat -F 16 -n KUMOBOOT -h "$part1_start" "$fat" >/dev/null
export MTOOLS_SKIP_CHECK=1 MTOOLSRC=/dev/null
mcopy -i "$fat" "$root/boot/vmlinuz-$kver" ::/vmlinuz
mcopy -i "$fat" "$root/boot/initrd.img-$kver" ::/initrd.img
cat >"$work/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND root=UUID=$root_uuid ro console=tty0 console=ttyS0,115200n8
EOF
mcopy -i "$fat" "$work/syslinux.cfg" ::/syslinux.cfg
"$syslinux_bin" --install "$fat"
mdir -a -i "$fat" ::/ldlinux.c32 >/dev/null 2>&1 || mcopy -i "$fat" "$ldlinux_c32" ::/ldlinux.c32

ext=$work/root.img
truncate -s $((part2_sectors * 512)) "$ext"
mkfs.ext4 -q -F -L kumo-root -U "$root_uuid" -E root_owner=0:0 -d "$root" "$ext"

disk=$work/disk.img
truncate -s $((disk_sectors * 512)) "$disk"
sfdisk -q "$disk" <<EOF
label: dos
label-id: 0x6b756d6f
start=$part1_start, size=$part1_sectors, type=e, bootable
start=$part2_start, size=$part2_sectors, type=83
EOF
dd if="$mbr_bin" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$fat" of="$disk" bs=512 seek="$part1_start" conv=notrunc,sparse status=none
dd if="$ext" of="$disk" bs=1M seek=$((part2_start / 2048)) conv=notrunc,sparse status=none

tmpout=$out.tmp.$$
qemu-img convert -q -f raw -O qcow2 -c "$disk" "$tmpout"
mv -f "$tmpout" "$out"
echo "$recipe_hash" >"$stamp"
log "wrote $out ($(du -k "$out" | cut -f1) KiB, virtual $disk_mb MiB, kernel $kver)"
((upload)) && upload_image
exit 0
