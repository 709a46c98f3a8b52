#!/usr/bin/env bash
# Boot a small VM whose only cgroup hierarchy is v2 and run memwarden's cgroup v2
# scenarios in it (tests/vm/cgroup2-init.sh is the guest's /init). Used by
# crates/memwarden-cli/tests/cgroup_v2_vm.rs, which parses and checks the results.
#
#   tests/vm/cgroup2.sh MEMWARDEN ALLOC_CHILD CACHE_DIR
#
# The Debian kernel (linux-image-amd64's image package, from apt) and its virtio
# modules are cached in CACHE_DIR; the initramfs (busybox, the two binaries and
# their libraries) is rebuilt on every run. qemu runs without KVM, under a hard
# timeout. The guest's results come out of its second serial port and are printed
# on stdout; its console goes to stderr.
#
# Exit 77 with "SKIP: why" on stderr when the VM cannot be had here (no qemu, no
# apt, offline...); any other non-zero exit is a failure.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 MEMWARDEN ALLOC_CHILD CACHE_DIR" >&2; exit 2; }
memwarden=$1 alloc_child=$2 cache=$3
here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${MEMWARDEN_VM_TIMEOUT:-240}

skip() { echo "SKIP: $*" >&2; exit 77; }

command -v qemu-system-x86_64 >/dev/null ||
  skip "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
[ "$(uname -m)" = x86_64 ] || skip "the VM test boots an amd64 kernel; this is $(uname -m)"
mkdir -p "$cache"
log=$cache/prepare.log

# Modules the guest loads for its virtio disks (their dependencies come along).
want_modules="virtio_pci virtio_blk"

# --- the kernel and its modules (once) -------------------------------------------
kdir=$cache/kernel
exec 9>"$cache/lock" # one preparation at a time (two test runs may start together)
command -v flock >/dev/null && flock 9
if [ "$(cat "$kdir/ready" 2>/dev/null)" != "$want_modules" ]; then
  command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
    skip "no apt-get/dpkg to fetch a Debian kernel"
  resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'; }
  pkg=$(resolve || true)
  if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >>"$log" 2>&1 || true
    pkg=$(resolve || true)
  fi
  [ -n "$pkg" ] || skip "apt knows no linux-image-amd64 (apt-get update needed, as root)"
  dl=$(mktemp -d "$cache/download.XXXXXX")
  trap 'rm -rf "$dl"' EXIT
  (cd "$dl" && apt-get download "$pkg") >>"$log" 2>&1 ||
    skip "cannot download $pkg (offline?): see $log"
  dpkg -x "$dl"/*.deb "$dl/root"
  rm -rf "$kdir" && mkdir -p "$kdir/modules"
  cp "$dl"/root/boot/vmlinuz-* "$kdir/vmlinuz"
  modroot=$(echo "$dl"/root/lib/modules/*)
  # Copy each wanted module after its dependencies (modinfo's depends=), decompressed.
  order=()
  add_module() {
    local name=$1 f dep
    for m in "${order[@]}"; do [ "$m" = "$name" ] && return 0; done
    f=$(find "$modroot" \( -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" \
      -o -name "${name//_/-}.ko" -o -name "${name//_/-}.ko.xz" -o -name "${name//_/-}.ko.zst" \) | head -1)
    if [ -z "$f" ]; then
      # Built into the kernel: nothing to load.
      grep -q "/${name}.ko" "$modroot/modules.builtin" 2>/dev/null && return 0
      echo "module $name not found in $pkg" >&2; return 1
    fi
    case $f in
      *.xz) xz -dc "$f" >"$kdir/modules/$name.ko" ;;
      *.zst) zstd -qdc "$f" >"$kdir/modules/$name.ko" ;;
      *) cp "$f" "$kdir/modules/$name.ko" ;;
    esac
    for dep in $(tr '\0' '\n' <"$kdir/modules/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
      add_module "$dep"
    done
    order+=("$name")
  }
  for m in $want_modules; do add_module "$m" || skip "kernel $pkg lacks module $m"; done
  printf '%s\n' "${order[@]}" >"$kdir/modules/order"
  echo "$pkg" >"$kdir/package"
  echo "$want_modules" >"$kdir/ready"
  rm -rf "$dl"
  trap - EXIT
fi

# --- a static busybox ---------------------------------------------------------------
is_static() { [ -x "$1" ] && ! ldd "$1" 2>/dev/null | grep -q '=>'; }
busybox=$(command -v busybox || true)
if ! is_static "$busybox"; then
  busybox=$cache/busybox/bin/busybox
  if ! is_static "$busybox"; then
    dl=$(mktemp -d "$cache/download.XXXXXX")
    (cd "$dl" && apt-get download busybox-static) >>"$log" 2>&1 ||
      { rm -rf "$dl"; skip "no static busybox (apt-get install busybox-static)"; }
    dpkg -x "$dl"/busybox-static_*.deb "$cache/busybox"
    rm -rf "$dl"
  fi
fi

exec 9>&-

# --- the initramfs and disks, fresh each run ----------------------------------------
run=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
root=$run/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules}
cp "$busybox" "$root/bin/busybox"
cp "$memwarden" "$root/bin/memwarden"
cp "$alloc_child" "$root/bin/alloc_child"
cp "$here/cgroup2-init.sh" "$root/init"
chmod 755 "$root/init"
cp "$kdir"/modules/* "$root/modules/"
# Shared libraries of the two binaries (the dynamic loader included), same paths.
for lib in $(for b in "$memwarden" "$alloc_child"; do ldd "$b"; done |
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
if command -v cpio >/dev/null; then cpio=(cpio); else cpio=("$busybox" cpio); fi
(cd "$root" && find . | "${cpio[@]}" -o -H newc --quiet) >"$run/initrd.cpio"
# vda: a swap device; vdb: a data disk whose blocks become page cache when read.
truncate -s 256M "$run/swap.img"
truncate -s 256M "$run/data.img"

rc=0
timeout "$timeout_s" qemu-system-x86_64 -nodefaults -display none -accel tcg \
  -m 1024 -smp 1 -no-reboot \
  -kernel "$kdir/vmlinuz" -initrd "$run/initrd.cpio" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all" \
  -drive "file=$run/swap.img,if=virtio,format=raw" \
  -drive "file=$run/data.img,if=virtio,format=raw" \
  -serial stdio -serial "file:$run/results.txt" </dev/null >&2 || rc=$?
[ "$rc" = 124 ] && { echo "qemu ran past ${timeout_s}s and was stopped" >&2; }
[ -e "$run/results.txt" ] && tr -d '\r' <"$run/results.txt"
[ "$rc" = 0 ] || { echo "qemu exited $rc" >&2; exit 1; }
