//! Journal events on the wire: `hardend run` in a private mount namespace (`unshare -m`) where
//! the test's own datagram socket is bind-mounted at /run/systemd/journal/socket. The journald
//! native protocol is decoded from what arrives, so field names and values are checked exactly
//! as journald would store them. The host's journal and /run are never touched: the mounts are
//! private to the namespace and go away with it.

#[path = "common/daemon.rs"]
mod daemon;

use std::io::{Read, Seek};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daemon::*;

/// One journal entry: its fields in the order they arrived.
type Entry = Vec<(String, Vec<u8>)>;

fn field<'a>(e: &'a Entry, name: &str) -> Option<&'a str> {
    e.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| std::str::from_utf8(v).expect("UTF-8 field"))
}

/// Decodes one native-protocol datagram: `KEY=VALUE\n`, or `KEY\n` + 64-bit LE length +
/// bytes + `\n` for values that may hold newlines.
fn parse_native(data: &[u8]) -> Entry {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let nl = i + data[i..]
            .iter()
            .position(|b| *b == b'\n')
            .expect("a field ends with a newline");
        let line = &data[i..nl];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            out.push((
                String::from_utf8(line[..eq].to_vec()).unwrap(),
                line[eq + 1..].to_vec(),
            ));
            i = nl + 1;
        } else {
            let len = u64::from_le_bytes(data[nl + 1..nl + 9].try_into().unwrap()) as usize;
            let start = nl + 9;
            out.push((
                String::from_utf8(line.to_vec()).unwrap(),
                data[start..start + len].to_vec(),
            ));
            assert_eq!(data[start + len], b'\n', "binary field ends with a newline");
            i = start + len + 1;
        }
    }
    out
}

/// Receives one datagram; a payload passed as a memfd (SCM_RIGHTS) is read from the fd.
fn recv_datagram(sock: &UnixDatagram) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 1 << 20];
    let mut cmsg = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; every pointer in it points into live locals above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg) as _;
    // SAFETY: a valid socket and a msghdr describing valid buffers.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return None; // the read timeout
    }
    let mut data = buf[..n as usize].to_vec();
    // SAFETY: walking the control messages the kernel just wrote into `cmsg`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
                let mut f = std::fs::File::from_raw_fd(fd);
                f.rewind().unwrap();
                data.clear();
                f.read_to_end(&mut data).unwrap();
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some(data)
}

/// The test's journald: a socket and a thread decoding entries.
struct Journal {
    entries: Arc<Mutex<Vec<Entry>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Journal {
    fn bind(path: &std::path::Path) -> Journal {
        let sock = UnixDatagram::bind(path).expect("bind the journal socket");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let entries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (Arc::clone(&entries), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(data) = recv_datagram(&sock) {
                    // An empty datagram is the client's probe: journald discards it.
                    if !data.is_empty() {
                        e.lock().unwrap().push(parse_native(&data));
                    }
                }
            }
        });
        Journal {
            entries,
            stop,
            thread: Some(thread),
        }
    }

    fn all(&self) -> Vec<Entry> {
        self.entries.lock().unwrap().clone()
    }

    #[track_caller]
    fn wait(&self, what: &str, pred: impl Fn(&Entry) -> bool) -> Entry {
        wait_for(DEADLINE, what, || self.all().into_iter().find(|e| pred(e)))
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if std::thread::panicking() {
            for e in self.all() {
                eprintln!(
                    "journal entry: {:?}",
                    e.iter()
                        .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}

/// Runs `hardend run` in a private mount namespace with `journal_dir` mounted at
/// /run/systemd/journal.
fn run_in_namespace(h: &Host, journal_dir: &std::path::Path) -> Daemon {
    let script = r#"set -e
if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; else mount -t tmpfs tmpfs /run; fi
mkdir -p /run/systemd/journal
mount --bind "$0" /run/systemd/journal
exec "$@""#;
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", script])
        .arg(journal_dir)
        .arg(BIN)
        .arg("run")
        .args(h.global_args());
    Daemon::spawn(h, c)
}

const DRIFT_REVERTED_ID: &str = "82f4658b5e754e938cace53ca1f0cfd4";
const PROFILE_LOADED_ID: &str = "09c79368ed944b9893fa13a625e8171b";

#[test]
fn run_journal_entries_carry_exactly_the_contract_fields() {
    let host_journal_existed = std::path::Path::new("/run/systemd/journal/socket").exists();
    let h = Host::new(true, "");
    let app = h.file("/etc/app/app.conf", b"a\n", 0o640);
    h.profile(
        "10-journal.toml",
        "[profile]\nname = \"journal\"\npolicy = \"enforce\"\n\n[[control]]\nid = \"j-mode\"\ntitle = \"app.conf 0640\"\nkind = \"file-mode\"\npath = \"/etc/app/app.conf\"\nmode = \"0640\"\n",
    );
    let journal_dir = h.base.join("journal");
    mkdirs(&journal_dir);
    let journal = Journal::bind(&journal_dir.join("socket"));
    let d = run_in_namespace(&h, &journal_dir);
    d.wait_ready();

    let loaded = journal.wait("a profile-loaded entry", |e| {
        field(e, "HARDEND_EVENT") == Some("profile-loaded")
    });
    assert_eq!(field(&loaded, "MESSAGE_ID"), Some(PROFILE_LOADED_ID));
    assert!(field(&loaded, "HARDEND_FILE").is_some_and(|f| f.ends_with("10-journal.toml")));

    chmod(&app, 0o666);
    wait_until("app.conf reverted", || mode_of(&app) == Some(0o640));
    let e = journal.wait("a drift-reverted entry", |e| {
        field(e, "HARDEND_EVENT") == Some("drift-reverted")
            && field(e, "HARDEND_CONTROL") == Some("j-mode")
    });

    let names: Vec<&str> = e.iter().map(|(n, _)| n.as_str()).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a field given twice: {names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with("F_")),
        "no field carries tracing-journald's F_ prefix: {names:?}"
    );
    let required = [
        "MESSAGE_ID",
        "HARDEND_EVENT",
        "HARDEND_CONTROL",
        "HARDEND_KIND",
        "HARDEND_TARGET",
        "HARDEND_EXPECTED",
        "HARDEND_ACTUAL",
        "HARDEND_ACTION",
        "HARDEND_LATENCY_US",
        "MESSAGE",
        "PRIORITY",
        "SYSLOG_IDENTIFIER",
    ];
    // journald's own code-location fields (and tracing's TARGET) are allowed besides.
    let allowed_extra = ["CODE_FILE", "CODE_LINE", "CODE_FUNC", "TARGET"];
    for r in required {
        assert!(names.contains(&r), "missing {r}: {names:?}");
    }
    for n in &names {
        assert!(
            required.contains(n) || allowed_extra.contains(n),
            "unexpected field {n}: {names:?}"
        );
    }
    assert_eq!(field(&e, "MESSAGE_ID"), Some(DRIFT_REVERTED_ID));
    assert_eq!(field(&e, "HARDEND_EVENT"), Some("drift-reverted"));
    assert_eq!(field(&e, "HARDEND_CONTROL"), Some("j-mode"));
    assert_eq!(field(&e, "HARDEND_KIND"), Some("file-mode"));
    assert_eq!(field(&e, "HARDEND_TARGET"), Some("/etc/app/app.conf"));
    assert_eq!(field(&e, "HARDEND_EXPECTED"), Some("0640 or stricter"));
    assert_eq!(field(&e, "HARDEND_ACTUAL"), Some("root:root 0666"));
    assert_eq!(field(&e, "HARDEND_ACTION"), Some("reverted"));
    let latency = field(&e, "HARDEND_LATENCY_US").unwrap();
    assert!(
        !latency.is_empty() && latency.bytes().all(|b| b.is_ascii_digit()),
        "HARDEND_LATENCY_US={latency:?}"
    );
    assert!(field(&e, "MESSAGE").unwrap().contains("/etc/app/app.conf"));
    // tracing-journald maps INFO to notice (5); a revert is neither a warning nor debug.
    assert!(
        matches!(field(&e, "PRIORITY"), Some("5" | "6")),
        "PRIORITY={:?}",
        field(&e, "PRIORITY")
    );
    assert_eq!(field(&e, "SYSLOG_IDENTIFIER"), Some("hardend"));

    // With a journal, events go there, not to stderr.
    assert!(
        d.events().is_empty(),
        "events also on stderr: {:?}",
        d.lines()
    );
    drop(d);
    assert_eq!(
        std::path::Path::new("/run/systemd/journal/socket").exists(),
        host_journal_existed,
        "the host's /run must be untouched"
    );
}
