#!/usr/bin/env bash
# `sudo make install` / `sudo make uninstall` on Raspberry Pi OS or Debian.
#
#   install:   the Debian packages, the system user 'rugcoach' (groups dialout and audio), the code
#              and its virtual environment in /opt/rugcoach, the two units (the coach and its
#              console), a commented default /etc/rugcoach/config.yaml (an existing one is kept),
#              the console's certificate made on the box, then both enabled and started.
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

if [[ $action == uninstall ]]; then
    if [[ $systemd_running == yes ]]; then
        systemctl disable --now rugcoach-console.socket rugcoach-console.service rugcoach.service || true
    fi
    rm -f "$unit_dir/rugcoach.service" "$unit_dir/rugcoach-console.service" "$unit_dir/rugcoach-console.socket"
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

if [[ $system == yes ]]; then
    bash scripts/install-debs.sh espeak-ng libportaudio2 libasound2-plugins python3-venv openssl
    if ! id rugcoach >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/rugcoach --no-create-home \
                --shell /usr/sbin/nologin --comment "RugCoach voice coach" rugcoach
    fi
    usermod --append --groups dialout,audio rugcoach
fi

# The code: a copy of what is tracked (no .venv, no caches), installed into its own venv.
install -d -m 0755 "$opt/src" "$etc" "$unit_dir"
files=$(git ls-files 2>/dev/null || find . -path ./.git -prune -o -path ./.venv -prune -o -type f -print)
tar -cf - $files | tar -xf - -C "$opt/src"
[[ -x $opt/venv/bin/python ]] || "$PYTHON" -m venv "$opt/venv"
"$opt/venv/bin/python" -m pip install --quiet --upgrade pip
# editable: the bundled protocols/ and sounds/ are found beside the package in src/
"$opt/venv/bin/python" -m pip install --quiet --editable "$opt/src"

install -m 0644 systemd/rugcoach.service "$unit_dir/rugcoach.service"
install -m 0644 systemd/rugcoach-console.service "$unit_dir/rugcoach-console.service"
install -m 0644 systemd/rugcoach-console.socket "$unit_dir/rugcoach-console.socket"
if [[ ! -e $etc/config.yaml ]]; then
    install -m 0644 systemd/config.yaml "$etc/config.yaml"
else
    echo "Kept the existing $etc/config.yaml (the new default is in $opt/src/systemd/config.yaml)."
fi
"$opt/venv/bin/rugcoach" check "$etc/config.yaml"

# The console's certificate, made on this box now (never shipped: no two boxes share a key), in
# the records' folder that the units' StateDirectory= keeps for the user rugcoach.
state=$DESTDIR/var/lib/rugcoach
if [[ $system == yes ]]; then
    install -d -m 0700 -o rugcoach -g rugcoach "$state"
    fingerprint=$(cd / && runuser -u rugcoach -- env STATE_DIRECTORY="$state" "$opt/venv/bin/rugcoach" console fingerprint)
else
    install -d -m 0700 "$state"
    fingerprint=$(STATE_DIRECTORY="$state" "$opt/venv/bin/rugcoach" console fingerprint)
fi

if [[ $systemd_running == yes ]]; then
    systemctl daemon-reload
    # systemd opens the console's ports (rugcoach-console.socket); a console of an older release
    # bound them itself, so it stops first. The console may restart at any time: it holds no
    # session (the daemon does).
    systemctl stop rugcoach-console.service 2>/dev/null || true
    systemctl enable --now rugcoach-console.socket
    systemctl enable --now rugcoach.service rugcoach-console.service
    echo "RugCoach is installed and running: systemctl status rugcoach rugcoach-console"
    echo "The console: https://$(hostname).local/ (or the box's address) in a browser in the practice."
    echo "Its certificate: $fingerprint (check it once in the browser; docs/handleiding.md says how)."
    echo "The first account needs the box's one-time code: press the button on the page to hear it,"
    echo "or: sudo -u rugcoach /opt/rugcoach/venv/bin/rugcoach console setup-code"
else
    echo "RugCoach is installed in $opt (not started: no systemd here)."
fi
