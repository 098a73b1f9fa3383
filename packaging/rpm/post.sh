# %post: the drop-in directory, %systemd_post expanded, then start as the .deb does
# (50-hardend.preset enables the unit unless a site preset says otherwise), and index the
# journal catalog.
# Site profiles go here; the directory is the administrator's and never replaced.
[ -d /etc/hardend/profiles.d ] || install -d -m 0755 -o root -g root /etc/hardend/profiles.d
systemctl daemon-reload >/dev/null 2>&1 || :
journalctl --update-catalog >/dev/null 2>&1 || :
if [ "$1" -eq 1 ]; then
    # First installation.
    systemctl --no-reload preset hardend.service >/dev/null 2>&1 || :
    if systemctl --quiet is-enabled hardend.service 2>/dev/null; then
        systemctl start hardend.service >/dev/null 2>&1 || :
    fi
fi
