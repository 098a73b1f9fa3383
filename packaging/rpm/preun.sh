# %preun: %systemd_preun expanded: on erase (not upgrade) disable and stop.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now hardend.service >/dev/null 2>&1 || :
fi
