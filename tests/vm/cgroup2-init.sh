#!/bin/busybox sh
# /init of the cgroup v2 test VM (built by tests/vm/cgroup2.sh): mounts cgroup2
# only, builds each scenario's groups, runs memwarden in them and writes every
# result to the second serial port (/dev/ttyS1), which the host test parses:
#
#   @@BEGIN name rc=N / stdout / @@STDERR / stderr / @@END name   one command
#   @@FACT key=value     what the guest read itself (cgroup files, /proc), to compare
#   @@NOTE text          why something could not be done here
#   @@DONE               the end: the guest got through every scenario
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1

out() { echo "$@" >&3; }
fact() { out "@@FACT $1=$2"; }
note() { out "@@NOTE $*"; }
run() { # NAME CMD...: run CMD, record its exit code, stdout and stderr
  name=$1
  shift
  "$@" >/tmp/stdout 2>/tmp/stderr
  rc=$?
  out "@@BEGIN $name rc=$rc"
  awk 1 /tmp/stdout >&3 # a last line without its newline still ends
  out "@@STDERR"
  awk 1 /tmp/stderr >&3
  out "@@END $name"
}
in_group() { # GROUP CMD...: exec CMD inside /sys/fs/cgroup/GROUP
  sh -c 'echo $$ > "/sys/fs/cgroup/$0/cgroup.procs" && exec "$@"' "$@"
}
spawn() { # NAME GROUP MIB: alloc_child holding MIB MiB in GROUP; sets $pid
  sleep 100000 | in_group "$2" alloc_child "$3" >"/tmp/$1.out" &
  i=0
  until grep -q '^ready ' "/tmp/$1.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 600 ] && { note "alloc_child $1 never became ready"; break; }
    usleep 100000
  done
  pid=$(sed -n 's/^ready //p' "/tmp/$1.out")
}
status_of() { # PID: "VmRSS RssAnon VmSwap" in KiB
  awk '/^(VmRSS|RssAnon|VmSwap):/ { printf "%s ", $2 }' "/proc/$1/status"
}
cg=/sys/fs/cgroup
MiB=1048576

fact kernel "$(uname -r)"
fact boot_seconds "$(cut -d' ' -f1 /proc/uptime)"
fact mem_total_kib "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
for m in $(cat /modules/order); do
  insmod "/modules/$m.ko" || note "insmod $m failed"
done
i=0
while [ ! -b /dev/vdb ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
[ -b /dev/vda ] && [ -b /dev/vdb ] || note "no virtio disks: $(ls /dev | tr '\n' ' ')"
# Held open so that vdb's page cache outlives each reader (the last close drops it).
exec 4</dev/vdb
echo +memory >$cg/cgroup.subtree_control || note "cannot enable the memory controller"
fact controllers "$(cat $cg/cgroup.controllers)"

# 1. Nested limits. box (300 MiB) holds box/a (100 MiB touched) and box/b, where
#    memwarden runs with a looser limit of its own: limit and usage come from box.
mkdir $cg/box
echo $((300 * MiB)) >$cg/box/memory.max
echo +memory >$cg/box/cgroup.subtree_control
mkdir $cg/box/a $cg/box/b
echo $((1024 * MiB)) >$cg/box/b/memory.max
spawn a box/a 100
fact box_a_pid "$pid"
fact box_current_before "$(cat $cg/box/memory.current)"
run nested_status in_group box/b memwarden status --json
run nested_check in_group box/b memwarden check --json --no-gpu --top 0
fact box_current_after "$(cat $cg/box/memory.current)"
fact box_b_current "$(cat $cg/box/b/memory.current)"

#    A leaf tighter than its parent: box/c (150 MiB) with 64 MiB in it; its own
#    limit and its own usage count (tighter in limit and in headroom both).
mkdir $cg/box/c
echo $((150 * MiB)) >$cg/box/c/memory.max
spawn c box/c 64
fact box_c_max "$(cat $cg/box/c/memory.max)"
fact box_c_current_before "$(cat $cg/box/c/memory.current)"
run leaf_check in_group box/c memwarden check --json --no-gpu --top 0
fact box_c_current_after "$(cat $cg/box/c/memory.current)"
fact box_current_leaf "$(cat $cg/box/memory.current)"

#    memory.high along the path: hi throttles at 200 MiB, hi/leaf only at 400 MiB;
#    the tightest, hi's, is the one reported.
mkdir $cg/hi
echo $((200 * MiB)) >$cg/hi/memory.high
echo +memory >$cg/hi/cgroup.subtree_control
mkdir $cg/hi/leaf
echo $((400 * MiB)) >$cg/hi/leaf/memory.high
fact hi_high "$(cat $cg/hi/memory.high)"
fact hi_leaf_high "$(cat $cg/hi/leaf/memory.high)"
run high_check in_group hi/leaf memwarden check --json --no-gpu --top 0

# 2. memory.reclaim on a group holding 128 MiB of clean page cache (read from a
#    block device, no swap yet), then bad sizes that must change nothing.
mkdir $cg/rec
in_group rec dd if=/dev/vdb of=/dev/null bs=1M count=128 2>/dev/null
fact rec_file_before "$(awk '$1 == "file" { print $2 }' $cg/rec/memory.stat)"
fact rec_current_before "$(cat $cg/rec/memory.current)"
run reclaim in_group rec memwarden reclaim --bytes 64M --json
fact rec_current_after "$(cat $cg/rec/memory.current)"
for bad in 0 abc -5M 12Q; do
  run "reclaim_bad_$bad" in_group rec memwarden reclaim --bytes "$bad" --json
done
fact rec_current_after_bad "$(cat $cg/rec/memory.current)"

# 3. memory.pressure: a group forced to reclaim (reading 128 MiB under a 32 MiB
#    limit) has stalled; the snapshot carries its PSI.
mkdir $cg/press
echo $((32 * MiB)) >$cg/press/memory.max
in_group press dd if=/dev/vdb of=/dev/null bs=1M count=128 skip=128 2>/dev/null
fact press_some_total_before "$(sed -n 's/^some .*total=//p' $cg/press/memory.pressure)"
run pressure_check in_group press memwarden check --json --no-gpu --top 0
fact press_some_total_after "$(sed -n 's/^some .*total=//p' $cg/press/memory.pressure)"

# 4. Swap: a real swap device; sw (memory.swap.max = 0) holds sw/leaf, where a
#    64 MiB child lives. The swap check refuses to page it out; once sw allows
#    192 MiB of swap, the trim goes through; with that swap in use, a second
#    child's trim that would fit the whole allowance but not what is left of it is
#    refused.
if mkswap /dev/vda >/dev/null && swapon /dev/vda; then
  fact swap_total_kib "$(awk '/^SwapTotal:/ { print $2 }' /proc/meminfo)"
  mkdir $cg/sw
  if [ -e $cg/sw/memory.swap.max ]; then
    echo 0 >$cg/sw/memory.swap.max
    echo +memory >$cg/sw/cgroup.subtree_control
    mkdir $cg/sw/leaf
    spawn s sw/leaf 64
    fact sw_pid "$pid"
    fact sw_status_before "$(status_of "$pid")"
    run trim_no_allowance memwarden trim --pid "$pid" --min-swap-free 0 --json
    fact sw_status_after_refusal "$(status_of "$pid")"
    echo $((192 * MiB)) >$cg/sw/memory.swap.max
    run trim_allowed memwarden trim --pid "$pid" --min-swap-free 0 --json
    fact sw_status_after_trim "$(status_of "$pid")"
    fact sw_leaf_swap_current "$(cat $cg/sw/leaf/memory.swap.current)"
    # The allowance now holds that child's swap: what is left is 192 MiB minus
    # it, too little for a second child's 96 MiB plus a 64 MiB margin.
    run sw_check in_group sw/leaf memwarden check --json --no-gpu --top 0
    mkdir $cg/sw/leaf2
    spawn s2 sw/leaf2 96
    fact sw2_pid "$pid"
    fact sw_swap_current "$(cat $cg/sw/memory.swap.current)"
    fact sw2_status_before "$(status_of "$pid")"
    run trim_allowance_in_use memwarden trim --pid "$pid" --min-swap-free 64M --json
    fact sw2_status_after "$(status_of "$pid")"
    fact sw_swap_current_after "$(cat $cg/sw/memory.swap.current)"
  else
    note "no memory.swap.max: kernel without cgroup swap accounting"
  fi
else
  note "mkswap/swapon /dev/vda failed"
fi

# 5. The headroom watch on cgroup v2: hw (memory.max 256 MiB) holds hw/leaf whose
#    memory.high (160 MiB) is tighter, so it binds. The watch (reserve 32 MiB) runs
#    in hw/leaf: a 150 MiB child coming in takes headroom below the reserve, then
#    memory.high is raised at run time and hw's memory.max binds instead.
mkdir $cg/hw
echo $((256 * MiB)) >$cg/hw/memory.max
echo +memory >$cg/hw/cgroup.subtree_control
mkdir $cg/hw/leaf
echo $((160 * MiB)) >$cg/hw/leaf/memory.high
run headroom_now in_group hw/leaf memwarden headroom --json --reserve 32M
in_group hw/leaf memwarden headroom --watch --json --seconds 8 --reserve 32M >/tmp/watch.out 2>/tmp/watch.err &
wpid=$!
usleep 700000
spawn hw hw/leaf 150
fact hw_leaf_current "$(cat $cg/hw/leaf/memory.current)"
usleep 1500000
echo $((300 * MiB)) >$cg/hw/leaf/memory.high
wait $wpid
rc=$?
out "@@BEGIN headroom_watch rc=$rc"
awk 1 /tmp/watch.out >&3
out "@@STDERR"
awk 1 /tmp/watch.err >&3
out "@@END headroom_watch"

out "@@DONE"
exec 3>&- # closing the port waits for it to drain
poweroff -f
