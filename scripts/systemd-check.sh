#!/usr/bin/env bash
# `sudo make install` under a real systemd, as a clinic's box runs it: a Debian bookworm root
# booted with systemd-nspawn (systemd as PID 1, the pure cgroup v2 hierarchy of Raspberry Pi OS
# bookworm, device rules enforced), the repository cloned inside and installed as the README says,
# then put through what a treatment room does to it. Outside CI: some 10 minutes.
#
#   sudo scripts/systemd-check.sh      builds the root once (~80 s), then boots it afresh each run
#   KEEP=yes sudo scripts/...          leaves the container running at the end (how to enter: printed)
#
# It checks: the unit is active and READY came; the console's unit too, answering over HTTPS and
# reaching the daemon's socket; the control socket and `rugcoach status`;
# no restart in 3 minutes; a kill -STOP is recovered
# by the watchdog; a simulated patient on a pty completes a session and the guide's report command
# shows it; a broken config then a fixed one heals with reload and with restart (no reset-failed);
# a ttyACM node made after the unit started is not refused by its device rules; the setup code is
# said on a box without a sensor; a card that fills up mid-session (a small tmpfs over the state
# directory) is waited out, the session finished and everything written once there is room; a
# second `make install` from a newer commit during a session restarts both units after it, on the
# new version; a clinic store (PostgreSQL in the same root) joined with `sudo rugcoach clinic
# join`, the sessions uploaded, the store stopped and started; a reboot (poweroff, then boot of
# the same root) brings the units back with the records intact; `make uninstall` keeps the records. Works on a host without systemd or D-Bus
# (nsenter, not machinectl).
# Every run starts from the same pristine root: a copy of it (reflinked where the filesystem can)
# that lives through the run's reboot and is removed at the end. The apt and pip caches are kept
# in $CACHE.
set -euo pipefail
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BASE=${BASE:-/var/tmp/rugcoach-systemd}
ROOT=${ROOT:-$BASE/root}
RUN_ROOT=$BASE/run-root-$$
CACHE=${CACHE:-$BASE/cache}
KEEP=${KEEP:-no}
[[ $(id -u) == 0 ]] || { echo "systemd-check: run as root (sudo)" >&2; exit 1; }

# --- host tools --------------------------------------------------------------------------------
missing=()
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# --- the root, built once ----------------------------------------------------------------------
if [[ ! -x $ROOT/lib/systemd/systemd ]]; then
    rm -rf "$ROOT.tmp"; mkdir -p "$BASE"
    # debootstrap's own default mirror, which it also writes into the root's sources.list
    debootstrap --variant=minbase --arch=amd64 \
        --include=systemd,systemd-sysv,dbus,sudo,git,make,python3,python3-venv,ca-certificates,procps \
        bookworm "$ROOT.tmp"
    echo rugcoach-check >"$ROOT.tmp/etc/hostname"
    mv "$ROOT.tmp" "$ROOT"
fi

# CAs the host trusts and the root does not (a TLS-inspecting proxy's): without them pip fails
# with CERTIFICATE_VERIFY_FAILED inside. Plain-http apt does not need them.
if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
    python3 - "$ROOT" <<'EOF'
import re, sys, pathlib
pat = r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----"
root = pathlib.Path(sys.argv[1])
have = set(re.findall(pat, (root / "etc/ssl/certs/ca-certificates.crt").read_text(), re.S))
host = re.findall(pat, pathlib.Path("/etc/ssl/certs/ca-certificates.crt").read_text(), re.S)
for i, c in enumerate(c for c in host if c not in have):
    (root / f"usr/local/share/ca-certificates/host-{i}.crt").write_text(c + "\n")
EOF
    compgen -G "$ROOT/usr/local/share/ca-certificates/host-*.crt" >/dev/null &&
        chroot "$ROOT" update-ca-certificates >/dev/null 2>&1
fi

# --- boot --------------------------------------------------------------------------------------
mkdir -p "$CACHE/apt" "$CACHE/pip"
# A cgroup of its own: with --keep-unit, nspawn splits the cgroup it is started in into
# supervisor/ (itself) and payload/ (the container); from the root cgroup two runs would share
# them. On a host without systemd the cgroup2 tree is ours to use (hybrid: .../unified).
# (On a host with systemd as PID 1: run this under `systemd-run --scope -p Delegate=yes` instead.)
cg=; cg2=
if [[ ! -d /run/systemd/system ]]; then
    if [[ -e /sys/fs/cgroup/unified/cgroup.procs ]]; then cg2=/sys/fs/cgroup/unified
    elif [[ -e /sys/fs/cgroup/cgroup.procs ]]; then cg2=/sys/fs/cgroup
    else echo "systemd-check: no cgroup2 hierarchy mounted on the host" >&2; exit 1
    fi
    cg=$cg2/rugcoach-check-$$; mkdir "$cg"; echo $$ >"$cg/cgroup.procs"
fi
log=$BASE/console.log
rm -rf "$RUN_ROOT"; cp -a --reflink=auto "$ROOT" "$RUN_ROOT"
nspawn=; leader=
boot() {
    # setsid: a ^C is for this script (its trap powers the container off), not for systemd-nspawn,
    # which would halt the container under a running `make install`.
    # --system-call-filter=bpf is what makes systemd's DevicePolicy/DeviceAllow work inside: without
    # it nspawn's seccomp filter refuses bpf(), and systemd silently runs units without device rules.
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 setsid systemd-nspawn --boot --register=no --keep-unit \
        --system-call-filter=bpf --capability=CAP_BPF,CAP_PERFMON --console=read-only \
        --bind-ro="$SRC:/src" --bind="$CACHE/apt:/var/cache/apt/archives" --bind="$CACHE/pip:/root/.cache/pip" \
        --directory="$RUN_ROOT" >>"$log" 2>&1 </dev/null &
    nspawn=$!
    leader=
    # the container's PID 1 is the child of systemd-nspawn
    for _ in $(seq 100); do
        leader=$(ps -o pid= --ppid "$nspawn" | tr -d ' ' || true)
        [[ -n $leader && $(readlink "/proc/$leader/exe" 2>/dev/null) == */systemd ]] && break
        leader=; kill -0 "$nspawn" 2>/dev/null || break; sleep 0.1
    done
    [[ -n $leader ]] || { cat "$log"; echo "systemd-check: the container did not start" >&2; return 1; }
    # `is-system-running --wait` fails with "Failed to connect to bus" until PID 1 listens: retry.
    state=
    for _ in $(seq 600); do
        state=$(ct systemctl is-system-running --wait 2>/dev/null || true)
        [[ $state == running || $state == degraded ]] && break; sleep 0.1
    done
    echo "container: systemd PID 1 is $leader on the host, state $state"
    [[ $state == running || $state == degraded ]] || { ct systemctl --failed --no-pager || true; return 1; }
}
shutdown_container() {
    if kill -0 "$nspawn" 2>/dev/null; then
        { [[ -n $leader ]] && nsenter -t "$leader" -a systemctl poweroff 2>/dev/null; } || kill -TERM "$nspawn"
        for _ in $(seq 300); do
            kill -0 "$nspawn" 2>/dev/null || break
            # systemd-shutdown SIGSTOPs every process, and an nsenter of ours whose child stops
            # stops itself and never reaps it: shutdown would wait 90 s for that zombie.
            pkill -CONT -P $$ -x nsenter || true
            sleep 0.1
        done
        if kill -0 "$nspawn" 2>/dev/null; then
            [[ -z $leader ]] || kill -KILL "$leader" 2>/dev/null || true  # the container's PID 1: all of it
            kill -KILL "$nspawn" 2>/dev/null || true
        fi
    fi
    wait "$nspawn" 2>/dev/null || true
}
poweroff() {
    [[ -z $nspawn ]] || shutdown_container
    if [[ -n $cg ]]; then  # leave the cgroup, then remove it with what nspawn left in it
        echo $$ >"$cg2/cgroup.procs"; find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    fi
    rm -rf "$RUN_ROOT"
}
trap poweroff EXIT

# In the container, as root, with the container's environment, not the caller's.
ct() {
    nsenter -t "$leader" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}
boot || exit 1

# --- the device rules are enforced (else every DeviceAllow test below would pass vacuously) ----
ct mknod /dev/ttyACM9 c 166 9
probe=$(ct systemd-run --quiet --wait --pipe --collect -p DevicePolicy=closed \
            /bin/sh -c 'exec 3<>/dev/ttyACM9' 2>&1 || true)
ct rm -f /dev/ttyACM9
if [[ $probe != *"Operation not permitted"* ]]; then
    echo "systemd-check: DevicePolicy=closed is not enforced here ($probe)" >&2; exit 1
fi
echo "container: DevicePolicy=closed is enforced (opening a closed device: EPERM)"

# --- the checks --------------------------------------------------------------------------------
failures=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
show() { ct systemctl show rugcoach.service -p "$1" --value; }
restarts() { show NRestarts; }
active() { [[ $(show ActiveState) == active && $(show SubState) == running ]]; }
now() { ct date '+%Y-%m-%d %H:%M:%S'; }
journal_since() { ct journalctl -u rugcoach.service --no-pager -o cat --since "$1"; }
config() { ct sh -c 'cat > /etc/rugcoach/config.yaml'; }
wait_for() {   # up to N seconds for a shell function or command (on the host side) to succeed
    local limit=$1; shift
    local _
    for _ in $(seq $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}
said_since() { journal_since "$1" | grep -q "$2"; }
more_restarts() { (( $(restarts) > $1 )); }
session_done() { ct grep -q '"cue": "done"' /var/lib/rugcoach/check-events.jsonl; }
session_done_in() { ct grep -q '"cue": "done"' "$1"; }
status_line() { ct runuser -u rugcoach -- /opt/rugcoach/venv/bin/rugcoach status 2>&1; }

ct git clone -q /src /root/rugcoach
echo "installing: $(ct git -C /root/rugcoach log -1 --format='%h %s' | cut -c1-90)"
rc=0; ct sh -c 'cd /root/rugcoach && make install' >"$BASE/install.log" 2>&1 || rc=$?
tail -n 2 "$BASE/install.log"
if [[ $rc == 0 ]]; then pass "sudo make install: exit 0"; else fail "sudo make install: exit $rc ($BASE/install.log)"; fi

# 1. active (running): Type=notify, so only once READY=1 came; with the installed default config
if wait_for 120 active; then
    pass "active (running) with the default config, READY came: \"$(show StatusText)\""
else
    fail "with the default config the unit is $(show ActiveState)/$(show SubState)"
    ct journalctl -u rugcoach.service --no-pager -o cat | tail -n 20
fi

# 1b. the console: its unit active (READY came), HTTPS on 443 with the box's own certificate
# showing the setup page of an unclaimed box, the daemon's socket reached under its hardening
# (the state it reports), plain HTTP on 80 redirecting, and the setup code for the shell
console_active() { [[ $(ct systemctl show rugcoach-console.service -p ActiveState --value) == active ]]; }
ask() {   # METHOD-less GET of $2 on port $1 (https for 443): status, Location and body
    ct python3 -c "import http.client, ssl, sys
c = http.client.HTTPSConnection('127.0.0.1', 443, context=ssl._create_unverified_context()) if sys.argv[1] == '443' \
    else http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]))
c.request('GET', sys.argv[2]); r = c.getresponse()
print(r.status, r.getheader('Location') or '', r.read().decode()[:200])" "$1" "$2"
}
console_up() { ask 443 /api/setup/state | grep -q '"box": "up"'; }
if wait_for 60 console_active && wait_for 60 console_up; then
    page=$(ask 443 / 2>&1); plain=$(ask 80 /x 2>&1); code=$(ct runuser -u rugcoach -- /opt/rugcoach/venv/bin/rugcoach console setup-code 2>&1)
    if [[ $page == "303 /setup"* && $plain == "301 https://127.0.0.1/x"* && $code =~ ^[0-9]{6}$ ]]; then
        pass "the console: https answers ($page), http redirects, the daemon's socket is up, a setup code"
    else
        fail "the console: https '$page', http '$plain', setup code '$code'"
    fi
else
    fail "the console is $(ct systemctl show rugcoach-console.service -p ActiveState --value) or cannot reach the daemon: $(ask 443 /api/setup/state 2>&1 | tail -n 1)"
    ct journalctl -u rugcoach-console.service --no-pager -o cat | tail -n 20
fi

# 2. a patient on a pty the service may open: sensor-sim as the service's user, behind a link
ct install -d -o rugcoach -g rugcoach /run/rugcoach-sim
config <<'YAML'
port: /run/rugcoach-sim/pbu
protocol: demo
patient: P-0042
events: /var/lib/rugcoach/check-events.jsonl
YAML
ct systemctl restart rugcoach.service
wait_for 60 active || true
started_at=$(date +%s)
pid_before=$(show MainPID)
ct systemd-run --quiet --unit=rugcoach-sim --uid=rugcoach --gid=rugcoach \
    /opt/rugcoach/venv/bin/rugcoach sensor-sim --protocol demo --link /run/rugcoach-sim/pbu \
    --events /var/lib/rugcoach/check-events.jsonl --seed 3
if wait_for 300 session_done; then
    pass "a simulated patient on a pty completed a session, $(ct grep -c '"type": "rep"' /var/lib/rugcoach/check-events.jsonl) repetitions"
else
    fail "no session completed on the pty in 5 minutes"
    ct journalctl -u rugcoach.service --no-pager -o cat | tail -n 20
fi
# the control socket under the unit: RuntimeDirectory, 0660 for the service's group; the guide's
# status command as the service's user, and the socket's answer of who was coached last
sock=$(ct stat -c '%a %U:%G' /run/rugcoach/rugcoach.sock 2>&1 || true)
status=$(ct runuser -u rugcoach -- /opt/rugcoach/venv/bin/rugcoach status 2>&1 || true)
if [[ $sock == "660 rugcoach:rugcoach" ]] && grep -q "RugCoach .*: " <<<"$status" \
        && grep -q "sensor: connected" <<<"$status"; then
    pass "the control socket is $sock; rugcoach status: $(head -n 1 <<<"$status")"
else
    fail "the control socket: '$sock'; rugcoach status: $status"
fi
ct systemctl stop rugcoach-sim.service || true
report=$(ct runuser -u rugcoach -- /opt/rugcoach/venv/bin/rugcoach report --patient P-0042 --out /tmp/rapport 2>&1 || true)
if ct grep -q "Sessie 1" /tmp/rapport/P-0042.html; then
    pass "the guide's report command shows it: $report"
else
    fail "the guide's report command: $report"
fi

# 3. no restart in 3 minutes of running (the session above included)
left=$(( 180 - ($(date +%s) - started_at) ))
(( left <= 0 )) || sleep "$left"
if [[ $(restarts) == 0 && $(show MainPID) == "$pid_before" ]] && active; then
    pass "no restart in 3 minutes (NRestarts=0, the same main process)"
else
    fail "in 3 minutes: NRestarts=$(restarts), main PID $pid_before -> $(show MainPID)"
fi

# 4. a hung main loop (kill -STOP) is killed and restarted by the watchdog
before=$(restarts); hung=$(show MainPID); stopped_at=$(date +%s)
ct kill -STOP "$hung"
if wait_for 90 more_restarts "$before" && wait_for 60 active && [[ $(show MainPID) != "$hung" ]]; then
    pass "kill -STOP recovered by the watchdog in $(( $(date +%s) - stopped_at )) s (WatchdogSec $(show WatchdogUSec))"
else
    fail "kill -STOP not recovered: $(show ActiveState)/$(show SubState), NRestarts=$(restarts)"
fi

# 5. a broken config, then the fixed one. Reload: refused, the old one stays; then taken.
since=$(now)
ct sh -c 'printf "voice: {rate_wpm: 9000}\n" >> /etc/rugcoach/config.yaml'
ct systemctl reload rugcoach.service
if wait_for 30 said_since "$since" "reload refused" && active; then
    pass "reload with a broken config: refused, the old config stays in force"
else
    fail "reload with a broken config: $(journal_since "$since" | tail -n 2)"
fi
config <<'YAML'
port: /run/rugcoach-sim/pbu
protocol: demo
patient: P-0042
YAML
ct systemctl reload rugcoach.service
if wait_for 30 said_since "$since" "reloaded config"; then pass "reload after the fix: taken"
else fail "reload after the fix: $(journal_since "$since" | tail -n 2)"; fi
# Restart: a broken config stops the unit once (exit 2, no restart loop); restart after the fix heals.
# (NRestarts counts systemd's own restarts since the last manual start: it must stay 0.)
ct sh -c 'printf "port: /dev/ttyACM0\nprotocol: fase9\n" > /etc/rugcoach/config.yaml'
ct systemctl restart rugcoach.service 2>/dev/null || true
sleep 12   # two RestartSec: a restart loop would show by now
state=$(show ActiveState); code=$(show ExecMainStatus)
if [[ $state == failed && $code == 2 && $(restarts) == 0 ]]; then
    pass "restart with a broken config: stopped once, exit 2, no restart loop; $(ct systemctl status rugcoach.service --no-pager 2>/dev/null | grep -m1 -o 'stopped: .*' || true)"
else
    fail "restart with a broken config: $state, exit $code, NRestarts $(restarts)"
fi
config <<'YAML'
port: /run/rugcoach-sim/pbu
protocol: demo
YAML
ct systemctl restart rugcoach.service || true
if wait_for 60 active; then pass "restart after the fix: active again, no reset-failed needed"
else fail "restart after the fix: $(show ActiveState)/$(show SubState)"; fi

# 6. a ttyACM node made after the unit started (a sensor plugged in after boot)
config <<'YAML'
port: /dev/ttyACM5
protocol: demo
YAML
ct systemctl restart rugcoach.service
wait_for 60 active || true
since=$(now)
sleep 2
ct sh -c 'mknod -m 660 /dev/ttyACM5 c 166 5 && chgrp dialout /dev/ttyACM5'
sleep 5
said=$(journal_since "$since" | grep "ttyACM5" | tail -n 1 || true)
if [[ -n $said && $said != *"device rules"* && $said != *"does not exist"* ]]; then
    # no USB device stands behind the node here, so the open ends past the rules, in ENXIO
    pass "a ttyACM node made after the unit started is not refused by the device rules: $said"
else
    fail "a ttyACM node made after the unit started: ${said:-nothing said}"
fi
ct rm -f /dev/ttyACM5

# 8. the setup code, said on a new box whose sensor is not plugged in yet (the console asks the
# daemon, which is still "starting": no sample ever came). No sound card here: the box speaks
# into a file, which shows what it said.
config <<'YAML'
port: /dev/ttyACM7
protocol: demo
audio: wav:/var/lib/rugcoach/said.wav
YAML
ct rm -f /var/lib/rugcoach/said.wav
ct systemctl restart rugcoach.service
wait_for 60 active || true
wait_for 60 console_up || true
announce=$(ct python3 -c "import http.client, json, ssl
c = http.client.HTTPSConnection('127.0.0.1', 443, context=ssl._create_unverified_context())
c.request('GET', '/api/csrf'); r = c.getresponse(); token = json.loads(r.read())['csrf']
cookie = r.getheader('Set-Cookie').split(';')[0]
c.request('POST', '/api/setup/announce', body='{}', headers={'Content-Type': 'application/json',
          'X-CSRF-Token': token, 'Cookie': cookie})
r = c.getresponse(); print(r.status, r.read().decode()[:200])" 2>&1 || true)
said_wav() { [[ $(ct stat -c %s /var/lib/rugcoach/said.wav 2>/dev/null || echo 0) -gt 100000 ]]; }
if [[ $announce == "200 "* ]] && wait_for 60 said_wav; then
    pass "the setup code is said without a sensor ($(ct stat -c %s /var/lib/rugcoach/said.wav) bytes of speech; the daemon: $(status_line | head -n 1))"
else
    fail "the setup code without a sensor: the console answered '$announce'; $(journal_since "$(now)" | tail -n 3)"
fi

# 9. the card fills up in the middle of a session: a small tmpfs over the state directory (its
# contents copied in). The session goes on for the patient, the unit never restarts, and once
# there is room everything waiting is written, once, without a human (no restart, no reset-failed).
ct systemctl stop rugcoach.service rugcoach-console.service rugcoach-console.socket
ct sh -c 'rm -rf /var/tmp/rc-state && cp -a /var/lib/rugcoach /var/tmp/rc-state &&
          mount -t tmpfs -o size=24m,mode=0700 tmpfs /var/lib/rugcoach &&
          cp -a /var/tmp/rc-state/. /var/lib/rugcoach/ && chown rugcoach:rugcoach /var/lib/rugcoach'
config <<'YAML'
port: /run/rugcoach-sim/pbu
protocol: demo
patient: P-0077
events: /run/rugcoach/check-events.jsonl
YAML
ct systemctl start rugcoach.service rugcoach-console.socket
wait_for 60 active || true
pid_before=$(show MainPID); restarts_before=$(restarts); since=$(now)
ct systemctl reset-failed rugcoach-sim.service 2>/dev/null || true
ct systemd-run --quiet --unit=rugcoach-sim --uid=rugcoach --gid=rugcoach \
    /opt/rugcoach/venv/bin/rugcoach sensor-sim --protocol demo --link /run/rugcoach-sim/pbu \
    --events /run/rugcoach/check-events.jsonl --seed 4
in_session_now() { status_line | grep -q coaching; }
full_now() { status_line | grep -q FULL; }
fill_card() { ct sh -c 'dd if=/dev/zero of=/var/lib/rugcoach/filler bs=64k oflag=append conv=notrunc 2>/dev/null; true'; }
reserve_gone() { ! ct test -e /var/lib/rugcoach/.space-reserve; }
wait_for 120 in_session_now || true
fill_card; wait_for 60 reserve_gone || true; fill_card
session_over() { ! in_session_now; }   # the goodbye said, the record closed (in memory, on a full card)
if wait_for 120 full_now && wait_for 300 session_done_in /run/rugcoach/check-events.jsonl && wait_for 60 session_over \
        && [[ $(show MainPID) == "$pid_before" && $(restarts) == "$restarts_before" ]] && active; then
    waiting=$(status_line | grep -o 'FULL: [0-9]* repetition(s)' || true)
    ct rm -f /var/lib/rugcoach/filler
    # (not "space again" in the journal: the space set aside, given up, already gave some for a while)
    kept() { ! full_now && status_line | grep -q "records: "; }
    if wait_for 60 kept; then
        reps=$(ct grep -c '"type": "rep"' /run/rugcoach/check-events.jsonl)
        stored=$(ct runuser -u rugcoach -- /opt/rugcoach/venv/bin/python3 -c "import sqlite3
db = sqlite3.connect('file:/var/lib/rugcoach/rugcoach.db?mode=ro', uri=True)
print(db.execute(\"SELECT count(*) FROM repetitions r JOIN sessions s ON s.id = r.session WHERE s.patient = 'P-0077' AND s.status = 'done'\").fetchone()[0])")
        if [[ $reps == "$stored" && $(show MainPID) == "$pid_before" ]]; then
            pass "a card full mid-session: the session finished for the patient (same process, $waiting waiting), then all $stored repetition(s) written once there was room"
        else
            fail "a card full mid-session: $reps repetition(s) said, $stored in the records: $(ct runuser -u rugcoach -- /opt/rugcoach/venv/bin/python3 -c "import sqlite3
db = sqlite3.connect('file:/var/lib/rugcoach/rugcoach.db?mode=ro', uri=True)
print(db.execute('SELECT id, patient, status, (SELECT count(*) FROM repetitions r WHERE r.session = s.id) FROM sessions s').fetchall())" 2>&1)"
            journal_since "$since" | tail -n 25
        fi
    else
        fail "a card full mid-session: the space freed was not used: $(journal_since "$since" | tail -n 3)"
    fi
else
    fail "a card full mid-session: full '$(status_line | grep records || true)', $(show ActiveState), PID $pid_before -> $(show MainPID), NRestarts $(restarts)"
    journal_since "$since" | tail -n 10
fi
ct systemctl stop rugcoach-sim.service 2>/dev/null || true
ct systemctl stop rugcoach.service rugcoach-console.service rugcoach-console.socket
ct sh -c 'rm -rf /var/tmp/rc-state && cp -a /var/lib/rugcoach /var/tmp/rc-state && umount /var/lib/rugcoach &&
          cp -a /var/tmp/rc-state/. /var/lib/rugcoach/ && chown rugcoach:rugcoach /var/lib/rugcoach && rm -f /var/lib/rugcoach/filler'
ct systemctl start rugcoach.service rugcoach-console.socket rugcoach-console.service
wait_for 60 active || true

# 10. an upgrade: `make install` from a newer commit while a patient is coached. The console
# restarts at once; the coach finishes the session on the old version and then restarts on the
# new one, which `rugcoach status` names. The same version again changes nothing.
config <<'YAML'
port: /run/rugcoach-sim/pbu
protocol: demo
patient: P-0078
events: /run/rugcoach/check-events-2.jsonl
YAML
ct systemctl restart rugcoach.service
wait_for 60 active || true
ct systemctl reset-failed rugcoach-sim.service 2>/dev/null || true
ct systemd-run --quiet --unit=rugcoach-sim --uid=rugcoach --gid=rugcoach \
    /opt/rugcoach/venv/bin/rugcoach sensor-sim --protocol demo --link /run/rugcoach-sim/pbu \
    --events /run/rugcoach/check-events-2.jsonl --seed 5
wait_for 120 in_session_now || true
coach_pid=$(show MainPID)
console_pid=$(ct systemctl show rugcoach-console.service -p MainPID --value)
ct sh -c 'cd /root/rugcoach && git -c user.name=check -c user.email=check@example.org commit -q --allow-empty -m "a newer version"'
new_version=$(ct sh -c 'cd /root/rugcoach && echo "$(sed -n "s/^version = \"\(.*\)\"/\1/p" pyproject.toml)+g$(git rev-parse --short=10 HEAD)"')
rc=0; ct sh -c 'cd /root/rugcoach && make install' >"$BASE/upgrade.log" 2>&1 || rc=$?
during=$(show MainPID)
new_coach() { [[ $(show MainPID) != "$coach_pid" ]] && active && status_line | head -n 1 | grep -qF "$new_version"; }
if [[ $rc == 0 && $during == "$coach_pid" ]] && grep -q "as soon as it ends" "$BASE/upgrade.log" \
        && wait_for 300 session_done_in /run/rugcoach/check-events-2.jsonl && wait_for 120 new_coach \
        && [[ $(ct systemctl show rugcoach-console.service -p MainPID --value) != "$console_pid" ]]; then
    rc=0; again=$(ct sh -c 'cd /root/rugcoach && make install' 2>&1) || rc=$?
    after=$(show MainPID)
    sleep 2
    if [[ $rc == 0 && $again == *"nothing changed"* && $(show MainPID) == "$after" ]]; then
        pass "an upgrade during a session: the coach restarted after it, now $(status_line | head -n 1 | cut -c1-60); the same version again: nothing changed"
    else
        fail "the same version installed again: exit $rc, '$again', PID $after -> $(show MainPID)"
    fi
else
    fail "an upgrade during a session: exit $rc, coach PID $coach_pid -> $during -> $(show MainPID), $(status_line | head -n 1); $(tail -n 3 "$BASE/upgrade.log")"
fi
ct systemctl stop rugcoach-sim.service 2>/dev/null || true

# 12. a practice's clinic store: PostgreSQL (Debian's, in the same root, on its Unix socket),
# prepared by its owner, then `sudo rugcoach clinic join` as the guide says. The box's files stay
# the service's, the console and the clinic link use the store, the sessions coached so far go up
# once, the box's heartbeat is there; the store stopped and started again is waited out.
clinic_sql() { ct runuser -u postgres -- psql -d rugcoach_clinic -tAc "$1" 2>&1; }
clinic_ok=no
# Debian's cluster lets local users in by peer (their Unix name): the store's roles log in with
# their password instead, as on a practice's server (the guide's pg_hba line, on the socket here)
if ct sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1' \
        && ct sh -c 'hba=$(ls /etc/postgresql/*/main/pg_hba.conf) &&
            { echo "local rugcoach_clinic praktijk_beheer,+rugcoach_box scram-sha-256"; cat "$hba"; } >"$hba.new" && mv "$hba.new" "$hba" &&
            chown postgres:postgres "$hba"' \
        && ct systemctl restart postgresql 2>/dev/null \
        && ct runuser -u postgres -- psql -qc "CREATE ROLE praktijk_beheer LOGIN CREATEROLE PASSWORD 'beheer-wachtwoord'" \
        && ct runuser -u postgres -- createdb -O praktijk_beheer rugcoach_clinic; then
    owner='postgresql://praktijk_beheer@/rugcoach_clinic?host=/var/run/postgresql'
    box_url='postgresql://rugcoach_kamer1@/rugcoach_clinic?host=/var/run/postgresql'
    init=$(ct env PGPASSWORD=beheer-wachtwoord /opt/rugcoach/venv/bin/rugcoach clinic init "$owner" 2>&1 || true)
    secret=$(ct env PGPASSWORD=beheer-wachtwoord /opt/rugcoach/venv/bin/rugcoach clinic add-box kamer1 --url "$owner" 2>/dev/null || true)
    joined=$(printf '%s\n' "$secret" | nsenter -t "$leader" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        /opt/rugcoach/venv/bin/rugcoach clinic join "$box_url" --secret-file - 2>&1 || true)
    owned=$(ct stat -c '%U %a' /var/lib/rugcoach/clinic-secret /var/lib/rugcoach/clinic.json 2>&1 | tr '\n' ' ' || true)
    link_active() { [[ $(ct systemctl show rugcoach-clinic.service -p ActiveState --value) == active ]]; }
    sessions_up() { local n; n=$(clinic_sql "SELECT count(*) FROM sessions" || true); [[ $n =~ ^[0-9]+$ ]] && ((n >= 2)); }
    heartbeat() { [[ $(clinic_sql "SELECT count(*) FROM boxes WHERE last_seen > now() - interval '3 seconds'" || true) == 1 ]]; }
    if [[ $joined == *"joined the clinic store"* && $owned == "rugcoach 600 rugcoach 600 " ]] \
            && wait_for 60 link_active && wait_for 60 sessions_up && wait_for 30 heartbeat \
            && ct test -e /etc/systemd/system/rugcoach-console.service.d/clinic.conf; then
        ct systemctl stop postgresql || true
        sleep 5
        away=$(ct runuser -u rugcoach -- /opt/rugcoach/venv/bin/rugcoach clinic status 2>&1 || true)
        ct systemctl start postgresql || true
        if [[ $away == *"cannot be reached"* ]] && wait_for 60 heartbeat && link_active && console_up; then
            clinic_ok=yes
            pass "a clinic store joined with sudo: the box's files the service's ($owned), $(clinic_sql "SELECT count(*) FROM sessions") session(s) up once, the heartbeat every second, the store stopped and back waited out"
        else
            fail "the clinic store stopped and started: status '$away', link $(ct systemctl show rugcoach-clinic.service -p ActiveState --value)"
            ct journalctl -u rugcoach-clinic.service --no-pager -o cat | tail -n 10
        fi
    else
        fail "a clinic store joined with sudo: init '$init'; join '$joined', files '$owned', link $(ct systemctl show rugcoach-clinic.service -p ActiveState --value), sessions $(clinic_sql "SELECT count(*) FROM sessions")"
        ct journalctl -u rugcoach-clinic.service --no-pager -o cat | tail -n 10
    fi
else
    fail "a clinic store: PostgreSQL could not be installed or prepared in the root"
fi

# 11. a reboot: poweroff, then boot of the same root. Both units come back by themselves, with
# the records as they were.
records() { ct runuser -u rugcoach -- /opt/rugcoach/venv/bin/python3 -c "import sqlite3
db = sqlite3.connect('file:/var/lib/rugcoach/rugcoach.db?mode=ro', uri=True)
print(db.execute('PRAGMA integrity_check').fetchone()[0], db.execute('SELECT count(*) FROM sessions').fetchone()[0],
      db.execute('SELECT count(*) FROM repetitions').fetchone()[0])"; }
before_reboot=$(records 2>&1 || true)
shutdown_container
if boot && wait_for 120 active && wait_for 60 console_active && wait_for 60 console_up; then
    after_reboot=$(records 2>&1 || true)
    if [[ $clinic_ok == yes ]] && ! wait_for 60 link_active; then
        fail "a reboot: the clinic link did not come back ($(ct systemctl show rugcoach-clinic.service -p ActiveState --value))"
    elif [[ $before_reboot == "ok "* && $after_reboot == "$before_reboot" ]]; then
        pass "a reboot: both units back by themselves, the records intact (integrity, sessions, repetitions: $after_reboot)"
    else
        fail "a reboot: the records were '$before_reboot', now '$after_reboot'"
    fi
else
    fail "a reboot: the coach is $(show ActiveState 2>/dev/null), the console $(ct systemctl show rugcoach-console.service -p ActiveState --value 2>/dev/null)"
fi

# 7. make uninstall keeps the records
echo "exposure: $(ct systemd-analyze security rugcoach.service 2>/dev/null | tail -n 1 || true)"
echo "exposure: $(ct systemd-analyze security rugcoach-console.service 2>/dev/null | tail -n 1 || true)"
ct sh -c 'cd /root/rugcoach && make uninstall' >/dev/null 2>&1 || true
if ct test -s /var/lib/rugcoach/rugcoach.db && ! ct test -e /etc/systemd/system/rugcoach.service; then
    pass "make uninstall removed the service and kept the records ($(ct du -h /var/lib/rugcoach/rugcoach.db | cut -f1))"
else
    fail "make uninstall: the records or the unit are not as expected"
fi

if [[ $KEEP == yes ]]; then
    trap - EXIT
    echo "running; a shell: nsenter -t $leader -a env -i TERM=\$TERM HOME=/root bash -l;" \
         "stop: nsenter -t $leader -a systemctl poweroff"
fi
echo "systemd-check: $failures check(s) failed"
[[ $failures == 0 ]]
