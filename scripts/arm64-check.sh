#!/usr/bin/env bash
# Try the README's two commands on a fresh Debian bookworm arm64, the base of Raspberry Pi OS
# 64-bit, without a Pi: a chroot made with debootstrap, run under qemu-user. Outside CI: it takes
# an hour or more (qemu-user runs arm64 code about ten times slower than the host).
#
#   sudo scripts/arm64-check.sh            build (or reuse) the chroot, clone this repository
#                                          into it, run `make demo` and `make test` there
#   sudo scripts/arm64-check.sh clean      unmount and remove the chroot
#
# Chromium does not run under qemu-user, so the browser tests are skipped there, and say so
# (RUGCOACH_NO_BROWSER). The tests' hang guards, chosen for a real machine, are stretched by
# qemu's factor (RUGCOACH_TEST_SLOWNESS, default 10: tests/patience.py); what the product promises
# (the watchdog's interval, a client's timeout) is not. Everything else runs as on a Pi:
# espeak-ng, PortAudio, PulseAudio, pseudo-terminals, SQLite, the daemon's life. The chroot lives
# in $ARM64_ROOT (default /var/tmp/rugcoach-arm64); a second run reuses the base system, not the
# clone.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
base=${ARM64_ROOT:-/var/tmp/rugcoach-arm64}
root=$base/root
log=$base/check.log

[[ $(id -u) == 0 ]] || { echo "arm64-check: run as root (sudo $0)" >&2; exit 1; }

unmount_all() {
    local process point
    # a daemon a test left running inside (a PulseAudio) would keep the mounts busy
    for process in /proc/[0-9]*; do
        [[ $(readlink "$process/root" 2>/dev/null) == "$root" ]] && kill -KILL "${process#/proc/}" 2>/dev/null
    done
    for point in dev sys proc; do
        if mountpoint -q "$root/$point" 2>/dev/null; then
            umount -R "$root/$point" 2>/dev/null || umount -R -l "$root/$point"
        fi
    done
    return 0
}

if [[ ${1:-} == clean ]]; then
    unmount_all
    rm -rf --one-file-system "$base"   # never into a /dev still bound in
    echo "arm64-check: removed $base"
    exit 0
fi

# -- the host: debootstrap, qemu-user and binfmt_misc (so arm64 programs run transparently) ---
missing=()
for package in debootstrap qemu-user-static binfmt-support; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
    update-binfmts --enable qemu-aarch64
fi
grep -q "flags: .*F" /proc/sys/fs/binfmt_misc/qemu-aarch64 || {
    echo "arm64-check: qemu-aarch64 is registered without the F flag: the chroot cannot find it" >&2
    exit 1
}

# -- the chroot: a fresh minimal bookworm arm64 (debootstrap's own default mirror) -------------
mkdir -p "$base/debs"
trap unmount_all EXIT
trap 'exit 130' INT TERM HUP   # bash runs the EXIT trap on these only through an exit
if [[ ! -e $root/.bootstrapped ]]; then   # written last: an interrupted build is done again
    unmount_all
    rm -rf --one-file-system "$root"
    echo "arm64-check: building a Debian bookworm arm64 system in $root (some 10 minutes)"
    debootstrap --arch=arm64 --variant=minbase --include=ca-certificates,sudo \
        --cache-dir="$base/debs" bookworm "$root" 2>&1 | tail -n 2
    # no service starts inside the chroot (a daemon left running would keep the mounts busy)
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    touch "$root/.bootstrapped"
fi
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
# rslave: an unmount inside never propagates to the host's own /dev and /sys
mountpoint -q "$root/sys" || { mount --rbind /sys "$root/sys"; mount --make-rslave "$root/sys"; }
mountpoint -q "$root/dev" || { mount --rbind /dev "$root/dev"; mount --make-rslave "$root/dev"; }
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# A host behind a TLS-inspecting proxy trusts extra authorities; the chroot must trust them too
# (and pip, which reads only its own bundle unless told).
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
fi

# -- the user's steps, as the README gives them -------------------------------------------------
rm -rf --one-file-system "$root/root/rugcoach"
git clone --quiet "$here" "$root/root/rugcoach"
in_chroot() {
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        RUGCOACH_NO_BROWSER="Chromium does not run under qemu-user" \
        RUGCOACH_TEST_SLOWNESS="${RUGCOACH_TEST_SLOWNESS:-10}" /bin/bash -c "$1"
}
echo "arm64-check: $(in_chroot 'uname -m; . /etc/os-release; echo $PRETTY_NAME' | tr '\n' ' ')" | tee "$log"
in_chroot "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make git >/dev/null"
status=0
for command in "make demo" "make demo" "make test"; do   # the demo twice: the second run installs nothing
    started=$(date +%s)
    if in_chroot "cd /root/rugcoach && $command" >>"$log" 2>&1; then
        result=ok
    else
        result="FAILED"; status=1
    fi
    echo "arm64-check: $command: $result in $(( $(date +%s) - started )) s" | tee -a "$log"
done
tail -n 3 "$log"
echo "arm64-check: the whole log is in $log"
exit $status
