# %postun: %systemd_postun_with_restart expanded: restart after an upgrade. On erase the
# catalog index is rebuilt and the empty drop-in directory removed; /var/lib/hardend (the
# originals for `hardend rollback`) is kept, as rpm has no purge: delete it by hand once it
# is no longer wanted.
systemctl daemon-reload >/dev/null 2>&1 || :
if [ "$1" -ge 1 ]; then
    systemctl try-restart hardend.service >/dev/null 2>&1 || :
else
    journalctl --update-catalog >/dev/null 2>&1 || :
    rmdir --ignore-fail-on-non-empty /etc/hardend/profiles.d /etc/hardend 2>/dev/null || :
fi
