#!/usr/bin/env bash
# `sudo make install` / `sudo make uninstall` on Raspberry Pi OS or Debian.
#
#   install:   the Debian packages, the system user 'rugcoach' (groups dialout and audio), the code
#              and its virtual environment in /opt/rugcoach, the two units (the coach and its
#              console), a commented default /etc/rugcoach/config.yaml (an existing one is kept),
#              the console's certificate made on the box, then both enabled and started.
#              Over an older install (an upgrade) the units are restarted on the new code: the
#              coach at the first moment no patient is coached (never in the middle of a session;
#              its records move forward as it starts), and the version running is printed. The same
#              version again changes nothing; records from a newer version refuse an older one.
#   uninstall: stops and removes the service and the code; the session records
#              (/var/lib/rugcoach), the config and the user stay, unless PURGE=yes.
#
# DESTDIR=/some/folder places the files there and leaves the system alone (no packages, no user,
# no systemctl): how the tests check the install on a machine without systemd as PID 1.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-install}
DESTDIR=${DESTDIR:-}
PYTHON=${PYTHON:-python3}
opt=$DESTDIR/opt/rugcoach
etc=$DESTDIR/etc/rugcoach
unit_dir=$DESTDIR/etc/systemd/system
system=$([[ -z $DESTDIR ]] && echo yes || echo no)
systemd_running=$([[ $system == yes && -d /run/systemd/system ]] && echo yes || echo no)

if [[ $system == yes && $(id -u) != 0 ]]; then
    echo "install: run as root: sudo make $action" >&2
    exit 1
fi

status_of() {   # a field of the running coach's status (docs/api.md), as the service's user
    (cd / && runuser -u rugcoach -- "$opt/venv/bin/rugcoach" status --json 2>/dev/null) |
        "$PYTHON" -c "import json, sys; print(json.load(sys.stdin)['$1'])" 2>/dev/null
}

running_version() {   # the version the coach reports, waiting up to $1 s for the new one
    local _ answer=
    for _ in $(seq $(($1 * 2))); do
        answer=$(status_of version || true)
        [[ $answer == "$version" ]] && break
        # a session under way keeps the old version until it ends: no use waiting for it here
        [[ -n $answer && $(status_of state || true) == in_session ]] && break
        sleep 0.5
    done
    [[ -n $answer ]] && echo "$answer"
}

restart_coach() {
    # The coach restarts on the new code at the first moment no patient is coached: it is asked
    # (SIGUSR2) and picks that moment itself, so a session that begins meanwhile is not cut off.
    # A coach from before that signal was understood is waited for here, then restarted.
    if [[ -n $installed ]]; then
        systemctl kill --kill-whom=main --signal=SIGUSR2 rugcoach.service
    else
        local said=no
        while [[ $(status_of state || true) == in_session || $(status_of state || true) == calibrating ]]; do
            [[ $said == yes ]] || echo "A patient is being coached: the coach restarts when the session ends."
            said=yes; sleep 5
        done
        systemctl restart rugcoach.service
    fi
}

if [[ $action == uninstall ]]; then
    if [[ $systemd_running == yes ]]; then
        systemctl disable --now rugcoach-clinic.service rugcoach-console.socket rugcoach-console.service \
            rugcoach.service || true
    fi
    rm -f "$unit_dir/rugcoach.service" "$unit_dir/rugcoach-console.service" "$unit_dir/rugcoach-console.socket" \
        "$unit_dir/rugcoach-clinic.service"
    rm -rf "$unit_dir/rugcoach-console.service.d"
    rm -rf "$opt"
    [[ $systemd_running == yes ]] && systemctl daemon-reload
    if [[ ${PURGE:-no} == yes ]]; then
        rm -rf "$etc" "$DESTDIR/var/lib/rugcoach" "$DESTDIR/var/cache/rugcoach"
        [[ $system == yes ]] && { userdel rugcoach 2>/dev/null || true; }
        echo "RugCoach removed, with its config and every session record."
    else
        echo "RugCoach removed. Kept: the session records in /var/lib/rugcoach and the config in" \
             "/etc/rugcoach (remove them too with: sudo make uninstall PURGE=yes)."
    fi
    exit 0
fi

# The version: the release and the commit (two installs from two commits are two versions).
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
commit=$(git rev-parse --short=10 HEAD 2>/dev/null || true)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | head -c 1 || true)
version="$version${commit:++g$commit}${dirty:+.dirty}"
state=$DESTDIR/var/lib/rugcoach
installed=$(cat "$opt/src/coach/VERSION" 2>/dev/null || true)

# Records from a newer RugCoach: refused before anything is touched (the system's Python is enough).
PYTHONPATH=$PWD "$PYTHON" -m coach.adapters.upgrade_check "$state" || exit 1

if [[ $installed == "$version" && -z $dirty && $systemd_running == yes ]] &&
        systemctl is-active --quiet rugcoach.service; then
    echo "RugCoach $version is installed and running already: nothing changed."
    exit 0
fi

if [[ $system == yes ]]; then
    bash scripts/install-debs.sh espeak-ng libportaudio2 libasound2-plugins python3-venv openssl libpq5
    if ! id rugcoach >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/rugcoach --no-create-home \
                --shell /usr/sbin/nologin --comment "RugCoach voice coach" rugcoach
    fi
    usermod --append --groups dialout,audio rugcoach
fi

# The code: a copy of what is tracked (no .venv, no caches), installed into its own venv.
# A new tree beside the old one, then swapped in: a running coach never sees half of each, and a
# module removed in the new version does not linger.
install -d -m 0755 "$opt" "$etc" "$unit_dir"
rm -rf "$opt/src.new" "$opt/src.old"
install -d -m 0755 "$opt/src.new"
files=$(git ls-files 2>/dev/null || find . -path ./.git -prune -o -path ./.venv -prune -o -type f -print)
tar -cf - $files | tar -xf - -C "$opt/src.new"
[[ ! -d $opt/src ]] || mv "$opt/src" "$opt/src.old"
mv "$opt/src.new" "$opt/src"
rm -rf "$opt/src.old"
[[ -x $opt/venv/bin/python ]] || "$PYTHON" -m venv "$opt/venv"
"$opt/venv/bin/python" -m pip install --quiet --upgrade pip
# editable: the bundled protocols/ and sounds/ are found beside the package in src/
"$opt/venv/bin/python" -m pip install --quiet --editable "$opt/src"

install -m 0644 systemd/rugcoach.service "$unit_dir/rugcoach.service"
install -m 0644 systemd/rugcoach-console.service "$unit_dir/rugcoach-console.service"
install -m 0644 systemd/rugcoach-console.socket "$unit_dir/rugcoach-console.socket"
install -m 0644 systemd/rugcoach-clinic.service "$unit_dir/rugcoach-clinic.service"   # enabled by `clinic join`
if [[ ! -e $etc/config.yaml ]]; then
    install -m 0644 systemd/config.yaml "$etc/config.yaml"
else
    echo "Kept the existing $etc/config.yaml (the new default is in $opt/src/systemd/config.yaml)."
fi
"$opt/venv/bin/rugcoach" check "$etc/config.yaml"

# The console's certificate, made on this box now (never shipped: no two boxes share a key), in
# the records' folder that the units' StateDirectory= keeps for the user rugcoach.
if [[ $system == yes ]]; then
    install -d -m 0700 -o rugcoach -g rugcoach "$state"
    fingerprint=$(cd / && runuser -u rugcoach -- env STATE_DIRECTORY="$state" "$opt/venv/bin/rugcoach" console fingerprint)
else
    install -d -m 0700 "$state"
    fingerprint=$(STATE_DIRECTORY="$state" "$opt/venv/bin/rugcoach" console fingerprint)
fi

# The version, once everything is in place and checked (an install cut short is no version, and
# its second run does the whole install again); before the restart, so the new coach reads it.
printf '%s\n' "$version" >"$opt/src/coach/VERSION"

if [[ $systemd_running == yes ]]; then
    systemctl daemon-reload
    # systemd opens the console's ports (rugcoach-console.socket); a console of an older release
    # bound them itself, so it stops first. The console may restart at any time: it holds no
    # session (the daemon does).
    systemctl stop rugcoach-console.service 2>/dev/null || true
    systemctl enable --now rugcoach-console.socket
    if systemctl is-active --quiet rugcoach.service; then
        restart_coach
    else
        systemctl reset-failed rugcoach.service 2>/dev/null || true
        systemctl enable --now rugcoach.service
    fi
    systemctl enable rugcoach.service rugcoach-console.service
    systemctl start rugcoach-console.service
    systemctl try-restart rugcoach-clinic.service   # a box of a clinic: its link on the new release
    running=$(running_version 120 || true)
    if [[ $running == "$version" ]]; then
        echo "RugCoach $version is installed and running: systemctl status rugcoach rugcoach-console"
    elif [[ -n $running ]]; then
        echo "RugCoach $version is installed; $running coaches the session under way, and the box starts"
        echo "$version as soon as it ends (a patient is never cut off): rugcoach status shows it then."
    else
        echo "RugCoach $version is installed, but the coach does not answer yet: journalctl -u rugcoach"
    fi
    echo "The console: https://$(hostname).local/ (or the box's address) in a browser in the practice."
    echo "Its certificate: $fingerprint (check it once in the browser; docs/handleiding.md says how)."
    echo "The first account needs the box's one-time code: press the button on the page to hear it,"
    echo "or: sudo -u rugcoach /opt/rugcoach/venv/bin/rugcoach console setup-code"
else
    echo "RugCoach is installed in $opt (not started: no systemd here)."
fi
