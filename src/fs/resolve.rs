//! Resolving managed paths under a [`Root`], and acting on what was found through a [`Lookup`].
//!
//! # Job
//! A profile names a path as users know it (`/lib/systemd/system/docker.service`). [`Root::lookup`]
//! turns it into an open descriptor of the parent directory plus the final name, and every later
//! action (read, chmod, atomic replace, unlink) is a `*at` call on that descriptor.
//!
//! # Invariants
//! - The final (managed) component is never followed: it is `lstat`ed, opened with `O_NOFOLLOW`
//!   or `O_PATH|O_NOFOLLOW`, replaced by `renameat`, or unlinked. A symlink there is reported.
//! - Resolution never leaves the root: `..` is resolved against the directories actually walked
//!   (it stops at the root), and an absolute link target restarts at the root, as
//!   `RESOLVE_IN_ROOT` does. Link targets are interpreted as text by hardend; the kernel never
//!   follows a link for us (the walk uses `O_NOFOLLOW` everywhere, the fast path
//!   `RESOLVE_NO_SYMLINKS`), so magic links (`/proc/self/root`) are inert too.
//! - An ancestor symlink is followed only when the link is owned by the trusted uid and every
//!   directory passed so far, the root included, is owned by the trusted uid and not writable by
//!   group or others. Otherwise [`FsError::UntrustedSymlink`]. (The link's own mode bits are
//!   ignored: Linux symlinks are always `0777` and their mode is never checked.)
//! - At most [`MAX_LINKS`] ancestor links per lookup.
//! - chown/chmod act on a descriptor whose device and inode are checked against the lookup.
//!
//! # Known limits
//! - Between [`Root::lookup`] and an action, the object at the final name may be swapped (by
//!   root, or by whoever may write that directory). Writes are immune (rename replaces whatever
//!   is there); chown/chmod detect the swap by device/inode and fail with [`FsError::Raced`].
//!   `read` of a regular file opens with `O_NONBLOCK|O_NOCTTY`, so a swap to a FIFO cannot block
//!   and a swap to a device is refused after an open without side effects for common devices.
//! - A regular file with several hard links, in a parent directory that is not trusted, is
//!   refused by `set_owner_mode`: a planted hard link could otherwise redirect a chmod.
//! - Mount points inside the root are crossed like directories (as `RESOLVE_IN_ROOT` does).
//! - Non-UTF-8 names are handled everywhere except by [`Root::glob`] wildcards (they never match).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, Gid, Uid, UnlinkatFlags};

use crate::fs::error::FsError;
use crate::fs::{sys, write, FileType, Meta};

/// Most ancestor symlinks followed in one lookup, as the kernel's `MAXSYMLINKS`.
pub(crate) const MAX_LINKS: u32 = 40;

/// Flags of a directory walked on the way: no I/O on it, only `*at` calls, never a link.
fn dir_walk_flags() -> OFlag {
    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC
}

/// The root all managed paths resolve under: the host `/` or an offline tree (`--root`).
#[derive(Debug)]
pub struct Root {
    path: PathBuf,
    fd: OwnedFd,
    trusted_uid: u32,
}

/// What [`Root::lookup`] found: the parent directory (held open) and the final component, which
/// was not followed. A snapshot: `entry` is not updated by the actions below, so look the path up
/// again after a change. Actions stay in the directory that was resolved, even if an ancestor is
/// renamed or swapped afterwards.
#[derive(Debug)]
pub struct Lookup {
    /// The managed path, as the profile names it.
    pub path: PathBuf,
    /// `lstat` of the final component at lookup time; `None` when it is missing.
    pub entry: Option<Meta>,
    /// The parent directory (an `O_PATH` descriptor); `None` when an ancestor is missing.
    parent: Option<OwnedFd>,
    /// Who a trusted parent directory belongs to; judged only when a hard link makes it matter.
    trusted_uid: u32,
    /// The final component.
    name: OsString,
    /// The path after following trusted ancestor symlinks, root-relative absolute.
    resolved: PathBuf,
}

/// Splits a managed path into its components, refusing what a profile must not name: relative
/// paths, `.` and `..` components, NUL bytes. Repeated and trailing slashes are ignored.
pub(crate) fn split_managed(path: &Path) -> Result<Vec<&OsStr>, FsError> {
    let bytes = path.as_os_str().as_bytes();
    let invalid = |reason: &str| FsError::InvalidPath {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if bytes.first() != Some(&b'/') {
        return Err(invalid("must be absolute"));
    }
    if bytes.contains(&0) {
        return Err(invalid("contains a NUL byte"));
    }
    let comps: Vec<&OsStr> = bytes
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .map(OsStr::from_bytes)
        .collect();
    if comps.iter().any(|c| *c == "." || *c == "..") {
        return Err(invalid("`.` and `..` components are not allowed"));
    }
    Ok(comps)
}

/// Root-relative absolute path from components.
fn abs_path<S: AsRef<OsStr>>(comps: &[S]) -> PathBuf {
    let mut p = PathBuf::from("/");
    for c in comps {
        p.push(c.as_ref());
    }
    p
}

impl Meta {
    /// Metadata from a `stat` result; `None` for a file type Linux does not have.
    pub(crate) fn from_stat(st: &FileStat) -> Option<Meta> {
        Some(Meta {
            file_type: file_type_of(st)?,
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
        })
    }
}

/// The file type in a `stat` result.
pub(crate) fn file_type_of(st: &FileStat) -> Option<FileType> {
    let fmt = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    Some(match fmt {
        SFlag::S_IFREG => FileType::Regular,
        SFlag::S_IFDIR => FileType::Directory,
        SFlag::S_IFLNK => FileType::Symlink,
        SFlag::S_IFSOCK => FileType::Socket,
        SFlag::S_IFIFO => FileType::Fifo,
        SFlag::S_IFCHR => FileType::CharDevice,
        SFlag::S_IFBLK => FileType::BlockDevice,
        _ => return None,
    })
}

/// Why an object is not trusted (`None`: owned by `uid`, not writable by group or others).
/// `what` names it in the message ("/lib", "directory /opt").
pub(crate) fn distrust(st: &FileStat, uid: u32, what: &str) -> Option<String> {
    let mode = st.st_mode & 0o7777;
    if st.st_uid != uid {
        Some(format!("{what} is owned by uid {}", st.st_uid))
    } else if mode & 0o020 != 0 {
        Some(format!("{what} is writable by group (mode {mode:04o})"))
    } else if mode & 0o002 != 0 {
        Some(format!("{what} is writable by others (mode {mode:04o})"))
    } else {
        None
    }
}

/// How to create missing ancestors during a walk.
#[derive(Clone, Copy)]
struct CreateSpec {
    uid: u32,
    gid: u32,
    mode: Mode,
}

/// One component still to walk.
struct Step {
    name: OsString,
    /// Index in the managed path's components, or `None` when it comes from a link target.
    managed_idx: Option<usize>,
}

/// A directory below the root, opened during the walk.
struct WalkedDir {
    fd: OwnedFd,
    name: OsString,
}

/// The state of one component-by-component walk.
struct Walk<'r> {
    root: &'r Root,
    /// The managed path being resolved (for messages).
    managed: &'r Path,
    /// Directories from the root down to the current one.
    stack: Vec<WalkedDir>,
    /// Why some directory passed so far is not trusted (the first reason), or `None`.
    distrust: Option<String>,
    links: u32,
}

/// How a walk of the ancestors ended.
enum Walked {
    /// All ancestors exist; the walk's current directory is the parent.
    Found,
    /// An ancestor is missing (or a dangling link target).
    Missing,
}

impl<'r> Walk<'r> {
    fn new(root: &'r Root, managed: &'r Path) -> Result<Walk<'r>, FsError> {
        let st = fstat(root.fd.as_raw_fd()).map_err(|e| FsError::nix(managed, "stat root", e))?;
        let what = format!("the root directory {}", root.path.display());
        Ok(Walk {
            root,
            managed,
            stack: Vec::new(),
            distrust: distrust(&st, root.trusted_uid, &what),
            links: 0,
        })
    }

    fn cur(&self) -> BorrowedFd<'_> {
        self.stack
            .last()
            .map_or_else(|| self.root.fd.as_fd(), |d| d.fd.as_fd())
    }

    /// The current directory, root-relative absolute.
    fn cur_path(&self) -> PathBuf {
        abs_path(
            &self
                .stack
                .iter()
                .map(|d| d.name.as_os_str())
                .collect::<Vec<_>>(),
        )
    }

    fn push_dir(&mut self, fd: OwnedFd, name: OsString) -> Result<(), FsError> {
        let st =
            fstat(fd.as_raw_fd()).map_err(|e| FsError::nix(self.managed, "stat directory", e))?;
        if self.distrust.is_none() {
            let what = format!("directory {}", self.cur_path().join(&name).display());
            self.distrust = distrust(&st, self.root.trusted_uid, &what);
        }
        self.stack.push(WalkedDir { fd, name });
        Ok(())
    }

    /// Walks `comps` (the managed path's ancestor components) from the root, following trusted
    /// symlinks, creating missing directories when `create` says so (only for components of the
    /// managed path itself, never inside a link target) and recording them in `created`.
    fn walk(
        &mut self,
        comps: &[&OsStr],
        create: Option<CreateSpec>,
        created: &mut Vec<PathBuf>,
    ) -> Result<Walked, FsError> {
        let mut pending: VecDeque<Step> = comps
            .iter()
            .enumerate()
            .map(|(i, c)| Step {
                name: c.to_os_string(),
                managed_idx: Some(i),
            })
            .collect();
        // mkdirat/openat races with a concurrent creator or remover: bounded retries.
        let mut retries = 0u32;
        while let Some(step) = pending.pop_front() {
            if step.name == "." {
                continue;
            }
            if step.name == ".." {
                // The stack holds the directories actually walked, so popping is the real parent;
                // at the root it stays at the root.
                self.stack.pop();
                continue;
            }
            match sys::openat(
                self.cur(),
                step.name.as_os_str(),
                dir_walk_flags(),
                Mode::empty(),
            ) {
                Ok(fd) => self.push_dir(fd, step.name)?,
                Err(Errno::ENOENT) => {
                    let (Some(spec), Some(idx)) = (create, step.managed_idx) else {
                        return Ok(Walked::Missing);
                    };
                    // 0700 first, so the directory is never more open than asked while it is
                    // set up.
                    match nix::sys::stat::mkdirat(
                        Some(self.cur().as_raw_fd()),
                        step.name.as_os_str(),
                        Mode::S_IRWXU,
                    ) {
                        Ok(()) => {
                            // Recorded before it is set up, so a failure below still rolls it back.
                            created.push(abs_path(&comps[..=idx]));
                            let fd = self.set_up_dir(&step.name, spec).map_err(|e| {
                                FsError::nix(self.managed, "set up created directory", e)
                            })?;
                            self.push_dir(fd, step.name)?;
                        }
                        Err(Errno::EEXIST) if retries < 8 => {
                            retries += 1;
                            pending.push_front(step);
                        }
                        Err(e) => {
                            return Err(FsError::nix(self.managed, "create parent directory", e))
                        }
                    }
                }
                Err(Errno::ENOTDIR | Errno::ELOOP) => self.follow(&step, &mut pending)?,
                Err(e) => return Err(FsError::nix(self.managed, "open ancestor directory", e)),
            }
        }
        Ok(Walked::Found)
    }

    /// `name` in the current directory is not a directory: follow it if it is a trusted symlink,
    /// else fail naming what is in the way.
    fn follow(&mut self, step: &Step, pending: &mut VecDeque<Step>) -> Result<(), FsError> {
        let here = self.cur_path().join(&step.name);
        // O_PATH|O_NOFOLLOW opens the link itself, so its owner and target are read from the
        // same inode.
        let lfd = sys::openat(
            self.cur(),
            step.name.as_os_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| FsError::nix(self.managed, "open ancestor", e))?;
        let st =
            fstat(lfd.as_raw_fd()).map_err(|e| FsError::nix(self.managed, "stat ancestor", e))?;
        let found = file_type_of(&st).unwrap_or(FileType::Regular);
        if found != FileType::Symlink {
            return Err(FsError::AncestorNotDirectory {
                path: self.managed.to_path_buf(),
                ancestor: here,
                found,
            });
        }
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(FsError::TooManyLinks {
                path: self.managed.to_path_buf(),
            });
        }
        let reason = self.distrust.clone().or_else(|| {
            (st.st_uid != self.root.trusted_uid)
                .then(|| format!("{} is owned by uid {}", here.display(), st.st_uid))
        });
        if let Some(reason) = reason {
            return Err(FsError::UntrustedSymlink {
                path: self.managed.to_path_buf(),
                link: here,
                reason,
            });
        }
        let target = nix::fcntl::readlinkat(Some(lfd.as_raw_fd()), "")
            .map_err(|e| FsError::nix(self.managed, "read ancestor symlink", e))?;
        let target = target.as_bytes();
        if target.is_empty() {
            return Err(FsError::nix(
                self.managed,
                "follow ancestor symlink",
                Errno::ENOENT,
            ));
        }
        if target.first() == Some(&b'/') {
            // Absolute targets restart at the root, never at the host's `/`.
            self.stack.clear();
        }
        for comp in target.rsplit(|b| *b == b'/').filter(|c| !c.is_empty()) {
            pending.push_front(Step {
                name: OsStr::from_bytes(comp).to_os_string(),
                managed_idx: None,
            });
        }
        Ok(())
    }

    /// Opens a directory this walk has just created and gives it its owner and mode.
    fn set_up_dir(&self, name: &OsStr, spec: CreateSpec) -> nix::Result<OwnedFd> {
        let fd = sys::openat(
            self.cur(),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )?;
        fchown(
            fd.as_raw_fd(),
            Some(Uid::from_raw(spec.uid)),
            Some(Gid::from_raw(spec.gid)),
        )?;
        nix::sys::stat::fchmod(fd.as_raw_fd(), spec.mode)?;
        Ok(fd)
    }

    /// The current directory as an owned descriptor (the walk is finished with it).
    fn into_parent(mut self) -> Result<OwnedFd, FsError> {
        match self.stack.pop() {
            Some(d) => Ok(d.fd),
            None => self
                .root
                .fd
                .try_clone()
                .map_err(|e| FsError::io(self.managed, "duplicate root descriptor", e)),
        }
    }
}

impl Root {
    /// Opens the root directory (host `/` or an offline tree). `trusted_uid` is the owner that
    /// ancestor symlinks and the directories on their way must have (0 in production).
    pub fn open(path: &Path, trusted_uid: u32) -> Result<Root, FsError> {
        // The root itself is the operator's choice (`--root`), so following links in it is fine.
        let canon =
            std::fs::canonicalize(path).map_err(|e| FsError::io(path, "resolve root", e))?;
        let fd = sys::open(&canon, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(|e| FsError::nix(&canon, "open root", e))?;
        Ok(Root {
            path: canon,
            fd,
            trusted_uid,
        })
    }

    /// The root as given, absolute and canonical.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the root is the host's `/`.
    pub fn is_host(&self) -> bool {
        self.path == Path::new("/")
    }

    /// The uid that trusted ancestor symlinks and directories must have.
    pub fn trusted_uid(&self) -> u32 {
        self.trusted_uid
    }

    /// The host path of a managed path, for messages and for running external tools. Only
    /// normal components are kept, so the result never leaves the root textually.
    pub fn host_path(&self, managed: &Path) -> PathBuf {
        let mut p = self.path.clone();
        for c in managed.components() {
            if let std::path::Component::Normal(c) = c {
                p.push(c);
            }
        }
        p
    }

    /// Opens the directory at the managed components `comps` (following trusted ancestor
    /// symlinks). `Ok(None)` when it is missing. Returns the descriptor and the resolved path.
    pub(crate) fn open_dir(
        &self,
        managed: &Path,
        comps: &[&OsStr],
    ) -> Result<Option<(OwnedFd, PathBuf)>, FsError> {
        if comps.is_empty() {
            let fd = self
                .fd
                .try_clone()
                .map_err(|e| FsError::io(managed, "duplicate root descriptor", e))?;
            return Ok(Some((fd, PathBuf::from("/"))));
        }
        // Fast path: no symlink on the way. The kernel refuses any link (ELOOP), and any error
        // sends us to the walk, which is the authority and gives the precise message.
        let mut rel = OsString::new();
        for (i, c) in comps.iter().enumerate() {
            if i > 0 {
                rel.push("/");
            }
            rel.push(c);
        }
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(
                ResolveFlag::RESOLVE_IN_ROOT
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        if let Ok(fd) = sys::openat2(self.fd.as_fd(), rel.as_os_str(), how) {
            return Ok(Some((fd, abs_path(comps))));
        }
        let mut walk = Walk::new(self, managed)?;
        match walk.walk(comps, None, &mut Vec::new())? {
            Walked::Missing => Ok(None),
            Walked::Found => {
                let resolved = walk.cur_path();
                Ok(Some((walk.into_parent()?, resolved)))
            }
        }
    }

    /// Resolves `path` (absolute, as a profile names it; `.` and `..` are refused) under the
    /// root: the ancestors are walked following only trusted symlinks, and the final component is
    /// `lstat`ed without following it. A missing ancestor gives a [`Lookup`] with neither parent
    /// nor entry.
    pub fn lookup(&self, path: &Path) -> Result<Lookup, FsError> {
        let comps = split_managed(path)?;
        let Some((name, ancestors)) = comps.split_last() else {
            return Err(FsError::InvalidPath {
                path: path.to_path_buf(),
                reason: "names the root directory itself".to_string(),
            });
        };
        let Some((parent, resolved_parent)) = self.open_dir(path, ancestors)? else {
            return Ok(Lookup {
                path: path.to_path_buf(),
                entry: None,
                parent: None,
                trusted_uid: self.trusted_uid,
                name: name.to_os_string(),
                resolved: path.to_path_buf(),
            });
        };
        let entry = lstat_at(parent.as_fd(), name, path)?;
        Ok(Lookup {
            path: path.to_path_buf(),
            entry,
            parent: Some(parent),
            trusted_uid: self.trusted_uid,
            name: name.to_os_string(),
            resolved: resolved_parent.join(name),
        })
    }

    /// Creates the missing ancestor directories of `path` as root:root 0755. Returns the
    /// directories created (managed paths), outermost first.
    pub fn create_parents(&self, path: &Path) -> Result<Vec<PathBuf>, FsError> {
        self.create_parents_with(path, 0, 0, 0o755)
    }

    /// [`Root::create_parents`] with the owner and mode of the created directories.
    pub fn create_parents_with(
        &self,
        path: &Path,
        uid: u32,
        gid: u32,
        mode: u32,
    ) -> Result<Vec<PathBuf>, FsError> {
        let comps = split_managed(path)?;
        let Some((_, ancestors)) = comps.split_last() else {
            return Err(FsError::InvalidPath {
                path: path.to_path_buf(),
                reason: "names the root directory itself".to_string(),
            });
        };
        let mode = checked_mode(path, mode)?;
        let spec = CreateSpec { uid, gid, mode };
        let mut created = Vec::new();
        let result = Walk::new(self, path)
            .and_then(|mut walk| walk.walk(ancestors, Some(spec), &mut created));
        match result {
            Ok(Walked::Found) => Ok(created),
            Ok(Walked::Missing) => {
                self.remove_created(&created);
                // Only a link target can be missing here: hardend does not create directories
                // inside a link's target.
                Err(FsError::nix(
                    path,
                    "create parent directories (dangling symlink on the way)",
                    Errno::ENOENT,
                ))
            }
            Err(e) => {
                self.remove_created(&created);
                Err(e)
            }
        }
    }

    /// Best-effort removal of directories a failed `create_parents` made, innermost first.
    fn remove_created(&self, created: &[PathBuf]) {
        for dir in created.iter().rev() {
            if let Ok(l) = self.lookup(dir) {
                let _ = l.remove_empty_dir();
            }
        }
    }
}

/// `lstat` of `name` in `dir`; `None` when missing.
fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr, path: &Path) -> Result<Option<Meta>, FsError> {
    match fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Meta::from_stat(&st)
            .map(Some)
            .ok_or_else(|| FsError::nix(path, "stat (unknown file type)", Errno::EINVAL)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(FsError::nix(path, "stat", e)),
    }
}

/// A mode with only permission bits, or `InvalidMode`.
pub(crate) fn checked_mode(path: &Path, mode: u32) -> Result<Mode, FsError> {
    if mode & !0o7777 != 0 {
        return Err(FsError::InvalidMode {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(Mode::from_bits_truncate(mode))
}

impl Lookup {
    /// Whether something (of any type) is at the path.
    pub fn exists(&self) -> bool {
        self.entry.is_some()
    }

    /// The path after following trusted ancestor symlinks, root-relative absolute
    /// (`/lib/systemd/system/x` → `/usr/lib/systemd/system/x`).
    /// Whether the parent directory exists (else an ancestor is missing).
    pub fn parent_exists(&self) -> bool {
        self.parent.is_some()
    }

    pub fn resolved(&self) -> &Path {
        &self.resolved
    }

    /// The final component's name.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The parent directory descriptor, or ENOENT when an ancestor is missing.
    fn parent(&self, op: &'static str) -> Result<BorrowedFd<'_>, FsError> {
        self.parent
            .as_ref()
            .map(|fd| fd.as_fd())
            .ok_or_else(|| FsError::nix(&self.path, op, Errno::ENOENT))
    }

    /// Whether the parent directory is owned by the trusted uid and not group/other-writable.
    fn parent_trusted(&self, parent: BorrowedFd) -> Result<bool, FsError> {
        let st = fstat(parent.as_raw_fd())
            .map_err(|e| FsError::nix(&self.path, "stat parent directory", e))?;
        Ok(distrust(&st, self.trusted_uid, "").is_none())
    }

    fn not_a_file(&self, found: FileType, expected: &'static str) -> FsError {
        FsError::NotAFile {
            path: self.path.clone(),
            found,
            expected,
        }
    }

    /// Reads a regular file. The final component is opened with `O_NOFOLLOW|O_NONBLOCK|O_NOCTTY`
    /// and must be a regular file by `fstat` of the opened descriptor.
    pub fn read(&self) -> Result<Vec<u8>, FsError> {
        if self.entry.is_none() {
            return Err(FsError::nix(&self.path, "open", Errno::ENOENT));
        }
        let mut buf = Vec::new();
        self.open_regular(OFlag::O_RDONLY, "open")?
            .read_to_end(&mut buf)
            .map_err(|e| FsError::io(&self.path, "read", e))?;
        Ok(buf)
    }

    /// Writes a regular file in place, without temp file or rename: for kernel files
    /// (`/proc/sys`) that cannot be replaced. Opened with `O_NOFOLLOW` on the parent's
    /// descriptor, and refused unless the opened object is a regular file.
    pub fn write_in_place(&self, content: &[u8]) -> Result<(), FsError> {
        use std::io::Write;
        // One write call: the kernel takes a sysctl value from a single write.
        self.open_regular(OFlag::O_WRONLY, "open for writing")?
            .write_all(content)
            .map_err(|e| FsError::io(&self.path, "write", e))
    }

    /// Opens the final component, which must be a regular file, without following it: a
    /// FIFO or device seen at lookup is never opened (opening may block or have side
    /// effects), and the opened descriptor is checked again by `fstat`.
    fn open_regular(&self, access: OFlag, op: &'static str) -> Result<File, FsError> {
        const EXPECTED: &str = "a regular file";
        let parent = self.parent(op)?;
        if let Some(m) = self.entry.filter(|m| m.file_type != FileType::Regular) {
            return Err(self.not_a_file(m.file_type, EXPECTED));
        }
        let flags = access | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        let fd =
            sys::openat(parent, self.name.as_os_str(), flags, Mode::empty()).map_err(
                |e| match e {
                    Errno::ELOOP => self.not_a_file(FileType::Symlink, EXPECTED),
                    e => FsError::nix(&self.path, op, e),
                },
            )?;
        let st = fstat(fd.as_raw_fd()).map_err(|e| FsError::nix(&self.path, "stat", e))?;
        let found = file_type_of(&st).unwrap_or(FileType::CharDevice);
        if found != FileType::Regular {
            return Err(self.not_a_file(found, EXPECTED));
        }
        Ok(File::from(fd))
    }

    /// The target of the symlink at the final component.
    pub fn read_link(&self) -> Result<PathBuf, FsError> {
        let parent = self.parent("read symlink")?;
        match nix::fcntl::readlinkat(Some(parent.as_raw_fd()), self.name.as_os_str()) {
            Ok(t) => Ok(PathBuf::from(t)),
            Err(Errno::EINVAL) => Err(self.not_a_file(
                self.entry.map_or(FileType::Regular, |m| m.file_type),
                "a symlink",
            )),
            Err(e) => Err(FsError::nix(&self.path, "read symlink", e)),
        }
    }

    /// Sets owner, group and permission bits (full `0o7777` set) of the object at the final
    /// component without following it. Regular files and directories go through an `O_NOFOLLOW`
    /// descriptor (`fchown`, `fchmod`), sockets through an `O_PATH` one (`fchownat` with
    /// `AT_EMPTY_PATH`, `fchmodat2` or `/proc/self/fd`); the descriptor's device and inode must
    /// match the lookup. Symlinks, FIFOs and devices are refused with nothing touched.
    /// chown comes first, as it clears setuid/setgid bits.
    pub fn set_owner_mode(
        &self,
        uid: Option<u32>,
        gid: Option<u32>,
        mode: Option<u32>,
    ) -> Result<(), FsError> {
        const EXPECTED: &str = "a regular file, directory or socket";
        const OP: &str = "set owner and mode";
        let mode = mode.map(|m| checked_mode(&self.path, m)).transpose()?;
        let parent = self.parent(OP)?;
        let Some(entry) = self.entry else {
            return Err(FsError::nix(&self.path, OP, Errno::ENOENT));
        };
        let (owner, group) = (uid.map(Uid::from_raw), gid.map(Gid::from_raw));
        match entry.file_type {
            FileType::Regular | FileType::Directory => {
                let mut flags =
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
                if entry.file_type == FileType::Directory {
                    flags |= OFlag::O_DIRECTORY;
                }
                let fd = sys::openat(parent, self.name.as_os_str(), flags, Mode::empty()).map_err(
                    |e| match e {
                        Errno::ELOOP | Errno::ENOTDIR => FsError::Raced {
                            path: self.path.clone(),
                            what: format!("it is no longer {}", entry.file_type.describe()),
                        },
                        e => FsError::nix(&self.path, "open", e),
                    },
                )?;
                let st = self.check_same(&fd, &entry)?;
                if entry.file_type == FileType::Regular
                    && st.st_nlink > 1
                    && !self.parent_trusted(parent)?
                {
                    return Err(FsError::Refused {
                        path: self.path.clone(),
                        reason: format!(
                            "it has {} hard links and its directory is not trusted (a planted hard link could redirect the change)",
                            st.st_nlink
                        ),
                    });
                }
                if owner.is_some() || group.is_some() {
                    fchown(fd.as_raw_fd(), owner, group)
                        .map_err(|e| FsError::nix(&self.path, "chown", e))?;
                }
                if let Some(mode) = mode {
                    nix::sys::stat::fchmod(fd.as_raw_fd(), mode)
                        .map_err(|e| FsError::nix(&self.path, "chmod", e))?;
                }
                Ok(())
            }
            FileType::Socket => {
                // A socket cannot be opened for I/O; O_PATH pins the inode without connecting.
                let fd = sys::openat(
                    parent,
                    self.name.as_os_str(),
                    OFlag::O_PATH | OFlag::O_NOFOLLOW,
                    Mode::empty(),
                )
                .map_err(|e| FsError::nix(&self.path, "open", e))?;
                self.check_same(&fd, &entry)?;
                if owner.is_some() || group.is_some() {
                    fchownat(
                        Some(fd.as_raw_fd()),
                        "",
                        owner,
                        group,
                        AtFlags::AT_EMPTY_PATH,
                    )
                    .map_err(|e| FsError::nix(&self.path, "chown", e))?;
                }
                if let Some(mode) = mode {
                    chmod_path_fd(fd.as_fd(), mode)
                        .map_err(|e| FsError::nix(&self.path, "chmod", e))?;
                }
                Ok(())
            }
            FileType::Symlink | FileType::Fifo | FileType::CharDevice | FileType::BlockDevice => {
                Err(self.not_a_file(entry.file_type, EXPECTED))
            }
        }
    }

    /// fstat of `fd` must show the lookup's object (same device, inode and type).
    fn check_same(&self, fd: &OwnedFd, entry: &Meta) -> Result<FileStat, FsError> {
        let st = fstat(fd.as_raw_fd()).map_err(|e| FsError::nix(&self.path, "stat", e))?;
        if st.st_dev != entry.dev
            || st.st_ino != entry.ino
            || file_type_of(&st) != Some(entry.file_type)
        {
            return Err(FsError::Raced {
                path: self.path.clone(),
                what: "another object is now at the path".to_string(),
            });
        }
        Ok(st)
    }

    /// Atomically replaces (or creates) the final component with a regular file holding
    /// `content`, owned by `uid:gid` with `mode`: temp file in the same directory, fchown, fchmod,
    /// write, fsync, `renameat` over the name (a symlink there is replaced, never written
    /// through), fsync of the directory. A directory at the name is refused.
    pub fn write_atomic(
        &self,
        content: &[u8],
        uid: u32,
        gid: u32,
        mode: u32,
    ) -> Result<(), FsError> {
        let mode = checked_mode(&self.path, mode)?;
        let parent = self.parent("write (parent directory missing)")?;
        if let Some(m) = self.entry {
            if m.file_type == FileType::Directory {
                return Err(self.not_a_file(m.file_type, "a regular file"));
            }
        }
        write::write_at(
            parent,
            &self.name,
            content,
            Some((uid, gid)),
            mode,
            &self.path,
        )
    }

    /// Atomically replaces (or creates) the final component with a symlink to `target`.
    pub fn replace_with_symlink(&self, target: &Path) -> Result<(), FsError> {
        let parent = self.parent("create symlink (parent directory missing)")?;
        if let Some(m) = self.entry {
            if m.file_type == FileType::Directory {
                return Err(self.not_a_file(m.file_type, "a symlink or file"));
            }
        }
        write::symlink_at(parent, &self.name, target, &self.path)
    }

    /// Unlinks the final component (a file, socket, symlink, ...; a directory is refused).
    /// Missing is fine. The directory is fsynced.
    pub fn remove(&self) -> Result<(), FsError> {
        let Some(parent) = self.parent.as_ref() else {
            return Ok(());
        };
        if let Some(m) = self.entry {
            if m.file_type == FileType::Directory {
                return Err(self.not_a_file(m.file_type, "a file"));
            }
        }
        match nix::unistd::unlinkat(
            Some(parent.as_raw_fd()),
            self.name.as_os_str(),
            UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) => write::fsync_dir(parent.as_fd(), &self.path),
            Err(Errno::ENOENT) => Ok(()),
            Err(Errno::EISDIR) => Err(self.not_a_file(FileType::Directory, "a file")),
            Err(e) => Err(FsError::nix(&self.path, "unlink", e)),
        }
    }

    /// Removes the final component if it is an empty directory (rollback of created parents).
    /// `Ok(false)` when it is missing or not empty; another type is refused.
    pub fn remove_empty_dir(&self) -> Result<bool, FsError> {
        let Some(parent) = self.parent.as_ref() else {
            return Ok(false);
        };
        match self.entry {
            None => return Ok(false),
            Some(m) if m.file_type != FileType::Directory => {
                return Err(self.not_a_file(m.file_type, "a directory"))
            }
            Some(_) => {}
        }
        match nix::unistd::unlinkat(
            Some(parent.as_raw_fd()),
            self.name.as_os_str(),
            UnlinkatFlags::RemoveDir,
        ) {
            Ok(()) => {
                write::fsync_dir(parent.as_fd(), &self.path)?;
                Ok(true)
            }
            Err(Errno::ENOENT | Errno::ENOTEMPTY | Errno::EEXIST) => Ok(false),
            Err(Errno::ENOTDIR) => Err(FsError::Raced {
                path: self.path.clone(),
                what: "it is no longer a directory".to_string(),
            }),
            Err(e) => Err(FsError::nix(&self.path, "remove directory", e)),
        }
    }
}

/// chmod of exactly the inode an `O_PATH` descriptor refers to: `fchmodat2(AT_EMPTY_PATH)`, or on
/// kernels before 6.6 chmod through the `/proc/self/fd` magic link, which resolves to that same
/// inode (no path lookup of ours is involved).
fn chmod_path_fd(fd: BorrowedFd<'_>, mode: Mode) -> nix::Result<()> {
    match sys::fchmod_path_fd(fd, mode) {
        Err(Errno::ENOSYS | Errno::EINVAL | Errno::EOPNOTSUPP | Errno::EPERM) => {
            let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
            nix::sys::stat::fchmodat(
                None,
                proc_path.as_str(),
                mode,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    /// A root-owned 0755 temp root.
    fn tree() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().expect("tempdir");
        chmod(dir.path(), 0o755);
        let root = Root::open(dir.path(), 0).expect("open root");
        (dir, root)
    }

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// mkdir -p with every created directory 0755 (whatever the umask).
    fn mkdirs(base: &Path, rel: &str) -> PathBuf {
        let mut p = base.to_path_buf();
        for c in rel.split('/') {
            p.push(c);
            if !p.exists() {
                std::fs::create_dir(&p).expect("mkdir");
                chmod(&p, 0o755);
            }
        }
        p
    }

    fn put(base: &Path, rel: &str, content: &str) -> PathBuf {
        let p = base.join(rel);
        mkdirs(
            base,
            p.parent()
                .expect("parent")
                .strip_prefix(base)
                .expect("below")
                .to_str()
                .expect("utf8"),
        );
        std::fs::write(&p, content).expect("write");
        chmod(&p, 0o644);
        p
    }

    fn lchown(p: &Path, uid: u32) {
        fchownat(
            None,
            p,
            Some(Uid::from_raw(uid)),
            None,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .expect("lchown");
    }

    fn lmeta(p: &Path) -> std::fs::Metadata {
        std::fs::symlink_metadata(p).expect("lstat")
    }

    /// Merged-/usr: `lib -> usr/lib` with docker.service under usr/lib.
    fn merged_usr() -> (tempfile::TempDir, Root) {
        let (d, root) = tree();
        put(
            d.path(),
            "usr/lib/systemd/system/docker.service",
            "[Unit]\n",
        );
        symlink("usr/lib", d.path().join("lib")).expect("symlink");
        (d, root)
    }

    #[test]
    fn lookup_of_a_normal_file() {
        let (d, root) = tree();
        put(d.path(), "etc/docker/daemon.json", "{}");
        let l = root
            .lookup(Path::new("/etc/docker/daemon.json"))
            .expect("lookup");
        assert!(l.exists());
        let m = l.entry.expect("entry");
        assert_eq!(
            (m.file_type, m.mode, m.uid, m.size),
            (FileType::Regular, 0o644, 0, 2)
        );
        assert_eq!(l.resolved(), Path::new("/etc/docker/daemon.json"));
        assert_eq!(l.read().expect("read"), b"{}");
        assert_eq!(
            root.host_path(&l.path),
            d.path()
                .canonicalize()
                .expect("canon")
                .join("etc/docker/daemon.json")
        );
        assert!(!root.is_host());
    }

    #[test]
    fn missing_file_and_missing_ancestor() {
        let (d, root) = tree();
        mkdirs(d.path(), "etc");
        let l = root.lookup(Path::new("/etc/nope")).expect("lookup");
        assert!(!l.exists());
        assert!(l.parent.is_some());
        assert!(l.read().expect_err("missing").is_not_found());
        let l = root
            .lookup(Path::new("/etc/docker/daemon.json"))
            .expect("lookup");
        assert!(!l.exists());
        assert!(l.parent.is_none());
        assert!(l
            .write_atomic(b"x", 0, 0, 0o644)
            .expect_err("no parent")
            .is_not_found());
        l.remove().expect("removing a missing file is fine");
    }

    #[test]
    fn invalid_paths_are_refused() {
        let (_d, root) = tree();
        for p in ["etc/x", "/etc/../x", "/etc/./x", "/", ""] {
            let err = root.lookup(Path::new(p)).expect_err(p);
            assert!(matches!(err, FsError::InvalidPath { .. }), "{p}: {err}");
        }
        // Repeated and trailing slashes are harmless.
        assert!(root.lookup(Path::new("//etc//x/")).is_ok());
    }

    #[test]
    fn merged_usr_ancestor_symlink_is_followed() {
        let (_d, root) = merged_usr();
        let l = root
            .lookup(Path::new("/lib/systemd/system/docker.service"))
            .expect("lookup");
        assert_eq!(l.entry.expect("exists").file_type, FileType::Regular);
        assert_eq!(
            l.resolved(),
            Path::new("/usr/lib/systemd/system/docker.service")
        );
        assert_eq!(l.path, Path::new("/lib/systemd/system/docker.service"));
        assert_eq!(l.read().expect("read"), b"[Unit]\n");
    }

    #[test]
    fn absolute_link_resolves_inside_the_root() {
        let (d, root) = tree();
        put(d.path(), "usr/lib/hardend-test-only/unit.service", "inside");
        symlink("/usr/lib", d.path().join("lib")).expect("symlink");
        let l = root
            .lookup(Path::new("/lib/hardend-test-only/unit.service"))
            .expect("lookup");
        assert_eq!(
            l.resolved(),
            Path::new("/usr/lib/hardend-test-only/unit.service")
        );
        assert_eq!(l.read().expect("read"), b"inside");
        // The host has /usr/lib but not this name: a host escape would have been "missing".
        assert!(!Path::new("/usr/lib/hardend-test-only").exists());
    }

    #[test]
    fn dotdot_in_link_targets_never_climbs_above_the_root() {
        let (d, root) = tree();
        put(d.path(), "etc/passwd", "inside-passwd");
        mkdirs(d.path(), "a");
        symlink("../../../etc", d.path().join("a/up")).expect("symlink");
        let l = root.lookup(Path::new("/a/up/passwd")).expect("lookup");
        assert_eq!(l.resolved(), Path::new("/etc/passwd"));
        assert_eq!(l.read().expect("read"), b"inside-passwd");
    }

    #[test]
    fn link_owned_by_another_user_is_refused() {
        let (_d, root) = merged_usr();
        lchown(&root.path().join("lib"), 1000);
        let err = root
            .lookup(Path::new("/lib/systemd/system/docker.service"))
            .expect_err("untrusted");
        match &err {
            FsError::UntrustedSymlink { link, reason, .. } => {
                assert_eq!(link, Path::new("/lib"));
                assert_eq!(reason, "/lib is owned by uid 1000");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "/lib/systemd/system/docker.service: ancestor symlink /lib is not trusted: /lib is owned by uid 1000"
        );
    }

    #[test]
    fn link_inside_a_user_owned_directory_is_refused() {
        let (d, root) = merged_usr();
        let opt = mkdirs(d.path(), "opt");
        symlink("../usr/lib", opt.join("lib")).expect("symlink");
        chown_dir(&opt, 1000);
        let err = root
            .lookup(Path::new("/opt/lib/systemd/system/docker.service"))
            .expect_err("untrusted");
        match err {
            FsError::UntrustedSymlink { link, reason, .. } => {
                assert_eq!(link, Path::new("/opt/lib"));
                assert_eq!(reason, "directory /opt is owned by uid 1000");
            }
            other => panic!("unexpected {other:?}"),
        }
        // Without a symlink on the way, a user-owned directory is just a directory.
        put(d.path(), "opt/plain", "x");
        assert!(root
            .lookup(Path::new("/opt/plain"))
            .expect("lookup")
            .exists());
    }

    fn chown_dir(p: &Path, uid: u32) {
        nix::unistd::chown(p, Some(Uid::from_raw(uid)), None).expect("chown");
    }

    #[test]
    fn group_writable_directory_on_the_way_is_refused() {
        let (d, root) = merged_usr();
        let srv = mkdirs(d.path(), "srv");
        symlink("/usr", srv.join("usr")).expect("symlink");
        chmod(&srv, 0o775);
        let err = root
            .lookup(Path::new("/srv/usr/lib/systemd/system/docker.service"))
            .expect_err("untrusted");
        match err {
            FsError::UntrustedSymlink { link, reason, .. } => {
                assert_eq!(link, Path::new("/srv/usr"));
                assert_eq!(reason, "directory /srv is writable by group (mode 0775)");
            }
            other => panic!("unexpected {other:?}"),
        }
        // An untrusted directory passed earlier taints a later link too.
        chmod(&srv, 0o755);
        mkdirs(d.path(), "srv/w/x");
        chmod(&d.path().join("srv/w"), 0o757);
        symlink("/usr", d.path().join("srv/w/x/u")).expect("symlink");
        let err = root
            .lookup(Path::new("/srv/w/x/u/lib/f"))
            .expect_err("untrusted");
        assert!(
            err.to_string()
                .ends_with("directory /srv/w is writable by others (mode 0757)"),
            "{err}"
        );
    }

    #[test]
    fn untrusted_root_directory_taints_links() {
        let (d, root) = merged_usr();
        chmod(d.path(), 0o777);
        let err = root
            .lookup(Path::new("/lib/systemd/system/docker.service"))
            .expect_err("untrusted");
        assert!(matches!(err, FsError::UntrustedSymlink { .. }), "{err}");
    }

    #[test]
    fn link_loops_are_bounded() {
        let (d, root) = tree();
        symlink("b", d.path().join("a")).expect("symlink");
        symlink("a", d.path().join("b")).expect("symlink");
        let err = root.lookup(Path::new("/a/x")).expect_err("loop");
        assert!(matches!(err, FsError::TooManyLinks { .. }), "{err}");
        assert_eq!(err.errno(), Some(libc::ELOOP));
    }

    #[test]
    fn file_in_the_way_and_dangling_ancestor_link() {
        let (d, root) = tree();
        put(d.path(), "etc/file", "x");
        let err = root
            .lookup(Path::new("/etc/file/x"))
            .expect_err("not a dir");
        match err {
            FsError::AncestorNotDirectory {
                ancestor, found, ..
            } => {
                assert_eq!(
                    (ancestor.as_path(), found),
                    (Path::new("/etc/file"), FileType::Regular)
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        symlink("/nowhere", d.path().join("etc/dangling")).expect("symlink");
        let l = root.lookup(Path::new("/etc/dangling/x")).expect("lookup");
        assert!(!l.exists() && l.parent.is_none());
    }

    /// A symlink at the managed path, pointing at a file outside the root.
    fn final_symlink() -> (tempfile::TempDir, tempfile::TempDir, Root, PathBuf) {
        let (d, root) = tree();
        let outside = tempfile::tempdir().expect("tempdir");
        let target = put(outside.path(), "target.conf", "original");
        mkdirs(d.path(), "etc");
        symlink(&target, d.path().join("etc/x.conf")).expect("symlink");
        (d, outside, root, target)
    }

    #[test]
    fn symlink_at_final_component_is_reported_and_not_chmodded() {
        let (_d, _o, root, target) = final_symlink();
        let l = root.lookup(Path::new("/etc/x.conf")).expect("lookup");
        assert_eq!(l.entry.expect("exists").file_type, FileType::Symlink);
        assert_eq!(l.read_link().expect("readlink"), target);
        let err = l
            .set_owner_mode(Some(1000), Some(1000), Some(0o600))
            .expect_err("symlink");
        assert!(
            matches!(
                err,
                FsError::NotAFile {
                    found: FileType::Symlink,
                    ..
                }
            ),
            "{err}"
        );
        let err = l.read().expect_err("symlink");
        assert!(
            matches!(
                err,
                FsError::NotAFile {
                    found: FileType::Symlink,
                    ..
                }
            ),
            "{err}"
        );
        let m = lmeta(&target);
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o644, 0, 0));
        assert_eq!(std::fs::read(&target).expect("read"), b"original");
    }

    #[test]
    fn write_atomic_replaces_a_symlink_without_writing_through_it() {
        let (d, _o, root, target) = final_symlink();
        let l = root.lookup(Path::new("/etc/x.conf")).expect("lookup");
        l.write_atomic(b"managed", 0, 0, 0o640).expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"original");
        let p = d.path().join("etc/x.conf");
        let m = lmeta(&p);
        assert!(m.file_type().is_file());
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o640, 0, 0));
        assert_eq!(std::fs::read(&p).expect("read"), b"managed");
        let leftovers: Vec<_> = std::fs::read_dir(d.path().join("etc"))
            .expect("readdir")
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(write::TEMP_PREFIX)
            })
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn write_atomic_creates_and_replaces_regular_files() {
        let (d, root) = tree();
        mkdirs(d.path(), "etc/docker");
        let path = Path::new("/etc/docker/daemon.json");
        root.lookup(path)
            .expect("lookup")
            .write_atomic(b"{\"icc\":false}", 0, 0, 0o644)
            .expect("create");
        let l = root.lookup(path).expect("lookup");
        assert_eq!(l.read().expect("read"), b"{\"icc\":false}");
        let ino = l.entry.expect("exists").ino;
        l.write_atomic(b"{}", 0, 0, 0o600).expect("replace");
        let l = root.lookup(path).expect("lookup");
        let m = l.entry.expect("exists");
        assert_ne!(m.ino, ino, "replaced by rename, not rewritten in place");
        assert_eq!((m.mode, l.read().expect("read")), (0o600, b"{}".to_vec()));
    }

    #[test]
    fn directory_at_a_file_path_is_refused() {
        let (d, root) = tree();
        mkdirs(d.path(), "etc/docker/daemon.json");
        put(d.path(), "etc/docker/daemon.json/keep", "k");
        let l = root
            .lookup(Path::new("/etc/docker/daemon.json"))
            .expect("lookup");
        let err = l.write_atomic(b"{}", 0, 0, 0o644).expect_err("dir");
        assert_eq!(
            err.to_string(),
            "/etc/docker/daemon.json: is a directory, expected a regular file"
        );
        assert!(matches!(
            l.remove().expect_err("dir"),
            FsError::NotAFile { .. }
        ));
        assert!(matches!(
            l.read().expect_err("dir"),
            FsError::NotAFile { .. }
        ));
        assert!(matches!(
            l.replace_with_symlink(Path::new("/x")).expect_err("dir"),
            FsError::NotAFile { .. }
        ));
        assert_eq!(
            std::fs::read(d.path().join("etc/docker/daemon.json/keep")).expect("kept"),
            b"k"
        );
    }

    #[test]
    fn set_owner_mode_on_files_and_directories() {
        let (d, root) = tree();
        let f = put(d.path(), "usr/lib/systemd/system/docker.service", "x");
        let l = root
            .lookup(Path::new("/usr/lib/systemd/system/docker.service"))
            .expect("lookup");
        // chown first, then chmod: the setuid bit survives.
        l.set_owner_mode(Some(1000), Some(1001), Some(0o4750))
            .expect("set");
        let m = lmeta(&f);
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o4750));
        let l = root
            .lookup(Path::new("/usr/lib/systemd/system/docker.service"))
            .expect("lookup");
        l.set_owner_mode(None, None, Some(0o644))
            .expect("mode only");
        l.set_owner_mode(Some(0), None, None).expect("owner only");
        let m = lmeta(&f);
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 1001, 0o644));
        let l = root
            .lookup(Path::new("/usr/lib/systemd"))
            .expect("lookup dir");
        l.set_owner_mode(Some(0), Some(0), Some(0o750))
            .expect("dir");
        assert_eq!(
            lmeta(&d.path().join("usr/lib/systemd")).mode() & 0o7777,
            0o750
        );
        let err = l
            .set_owner_mode(None, None, Some(0o10644))
            .expect_err("bad mode");
        assert!(matches!(err, FsError::InvalidMode { .. }));
    }

    #[test]
    fn set_owner_mode_refuses_a_hard_link_only_in_an_untrusted_directory() {
        let (d, root) = tree();
        let f = put(d.path(), "etc/docker/key.json", "k");
        std::fs::hard_link(&f, d.path().join("etc/docker/other")).expect("link");
        let l = root
            .lookup(Path::new("/etc/docker/key.json"))
            .expect("lookup");
        l.set_owner_mode(None, None, Some(0o600))
            .expect("trusted directory: a second link is the admin's own");
        assert_eq!(lmeta(&f).mode() & 0o7777, 0o600);

        chmod(&d.path().join("etc/docker"), 0o777);
        let l = root
            .lookup(Path::new("/etc/docker/key.json"))
            .expect("lookup");
        let err = l
            .set_owner_mode(None, None, Some(0o644))
            .expect_err("anyone could have planted the link");
        assert!(matches!(err, FsError::Refused { .. }), "{err:?}");
        assert_eq!(lmeta(&f).mode() & 0o7777, 0o600, "left as it was");
    }

    #[test]
    fn set_owner_mode_detects_a_swapped_file() {
        let (d, root) = tree();
        let f = put(d.path(), "etc/x", "x");
        let l = root.lookup(Path::new("/etc/x")).expect("lookup");
        let other = put(d.path(), "etc/y", "y");
        std::fs::rename(&other, &f).expect("swap");
        let err = l
            .set_owner_mode(None, None, Some(0o600))
            .expect_err("raced");
        assert!(matches!(err, FsError::Raced { .. }), "{err}");
        assert_eq!(lmeta(&f).mode() & 0o7777, 0o644);
        // Swapped for a symlink: still refused, the link's target untouched.
        std::fs::remove_file(&f).expect("rm");
        symlink(d.path().join("etc"), &f).expect("symlink");
        let err = l
            .set_owner_mode(None, None, Some(0o600))
            .expect_err("raced");
        assert!(matches!(err, FsError::Raced { .. }), "{err}");
        assert_eq!(lmeta(&d.path().join("etc")).mode() & 0o7777, 0o755);
    }

    #[test]
    fn hard_linked_file_in_untrusted_directory_is_refused() {
        let (d, root) = tree();
        let f = put(d.path(), "home/u/f", "x");
        std::fs::hard_link(&f, d.path().join("home/u/g")).expect("link");
        chown_dir(&d.path().join("home/u"), 1000);
        let l = root.lookup(Path::new("/home/u/f")).expect("lookup");
        let err = l
            .set_owner_mode(None, None, Some(0o600))
            .expect_err("refused");
        assert!(matches!(err, FsError::Refused { .. }), "{err}");
        assert_eq!(lmeta(&f).mode() & 0o7777, 0o644);
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let (d, root) = tree();
        let run = mkdirs(d.path(), "run");
        let fifo = run.join("p");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).expect("mkfifo");
        chmod(&fifo, 0o644);
        let l = root.lookup(Path::new("/run/p")).expect("lookup");
        assert_eq!(l.entry.expect("exists").file_type, FileType::Fifo);
        let err = l
            .set_owner_mode(Some(0), Some(0), Some(0o600))
            .expect_err("fifo");
        assert!(
            matches!(
                err,
                FsError::NotAFile {
                    found: FileType::Fifo,
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            l.read().expect_err("fifo"),
            FsError::NotAFile { .. }
        ));
        assert_eq!(lmeta(&fifo).mode() & 0o7777, 0o644);
    }

    #[test]
    fn unix_socket_gets_chowned_and_chmodded() {
        let (d, root) = tree();
        let run = mkdirs(d.path(), "run");
        let sock = run.join("docker.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        let l = root.lookup(Path::new("/run/docker.sock")).expect("lookup");
        assert_eq!(l.entry.expect("exists").file_type, FileType::Socket);
        l.set_owner_mode(Some(0), Some(998), Some(0o660))
            .expect("socket");
        let m = lmeta(&sock);
        assert!(std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 998, 0o660));
    }

    #[test]
    fn socket_chmod_fallback_through_proc() {
        let (d, _root) = tree();
        let sock = d.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        let fd = sys::open(&sock, OFlag::O_PATH | OFlag::O_NOFOLLOW, Mode::empty()).expect("open");
        let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        nix::sys::stat::fchmodat(
            None,
            proc_path.as_str(),
            Mode::from_bits_truncate(0o600),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .expect("chmod via /proc");
        assert_eq!(lmeta(&sock).mode() & 0o7777, 0o600);
    }

    #[test]
    fn create_parents_makes_root_owned_0755_dirs_outermost_first() {
        let (d, root) = tree();
        mkdirs(d.path(), "etc");
        let created = root
            .create_parents(Path::new("/etc/docker/certs.d/reg/ca.crt"))
            .expect("create");
        assert_eq!(
            created,
            vec![
                PathBuf::from("/etc/docker"),
                PathBuf::from("/etc/docker/certs.d"),
                PathBuf::from("/etc/docker/certs.d/reg")
            ]
        );
        for c in &created {
            let m = lmeta(&root.host_path(c));
            assert!(m.is_dir());
            assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 0, 0o755));
        }
        assert!(root
            .create_parents(Path::new("/etc/docker/certs.d/reg/ca.crt"))
            .expect("again")
            .is_empty());
        // Rollback, innermost first; a non-empty directory stays.
        put(d.path(), "etc/docker/keep", "k");
        let removed: Vec<bool> = created
            .iter()
            .rev()
            .map(|c| {
                root.lookup(c)
                    .expect("lookup")
                    .remove_empty_dir()
                    .expect("rmdir")
            })
            .collect();
        assert_eq!(removed, vec![true, true, false]);
        assert!(!root
            .lookup(Path::new("/nope/x"))
            .expect("lookup")
            .remove_empty_dir()
            .expect("missing"));
    }

    #[test]
    fn create_parents_through_a_trusted_link_and_not_through_an_untrusted_one() {
        let (d, root) = merged_usr();
        let created = root
            .create_parents(Path::new("/lib/hardend/x.conf"))
            .expect("create");
        assert_eq!(created, vec![PathBuf::from("/lib/hardend")]);
        assert!(d.path().join("usr/lib/hardend").is_dir());
        lchown(&d.path().join("lib"), 1000);
        let err = root
            .create_parents(Path::new("/lib/other/x.conf"))
            .expect_err("untrusted");
        assert!(matches!(err, FsError::UntrustedSymlink { .. }));
        assert!(!d.path().join("usr/lib/other").exists());
        // A dangling link: nothing is created inside its target.
        symlink("/missing/dir", d.path().join("dangling")).expect("symlink");
        let err = root
            .create_parents(Path::new("/dangling/a/x"))
            .expect_err("dangling");
        assert!(err.is_not_found(), "{err}");
        assert!(!d.path().join("missing").exists());
    }

    #[test]
    fn remove_and_replace_with_symlink() {
        let (d, root) = tree();
        let f = put(d.path(), "etc/x", "x");
        let l = root.lookup(Path::new("/etc/x")).expect("lookup");
        l.replace_with_symlink(Path::new("/etc/y"))
            .expect("symlink");
        assert_eq!(
            std::fs::read_link(&f).expect("readlink"),
            Path::new("/etc/y")
        );
        let l = root.lookup(Path::new("/etc/x")).expect("lookup");
        assert_eq!(l.read_link().expect("readlink"), Path::new("/etc/y"));
        l.remove().expect("remove");
        assert!(std::fs::symlink_metadata(&f).is_err());
        l.remove().expect("already gone");
        let err = root
            .lookup(Path::new("/etc"))
            .expect("lookup")
            .read_link()
            .expect_err("not a link");
        assert!(
            matches!(
                err,
                FsError::NotAFile {
                    found: FileType::Directory,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn fast_path_refuses_symlinks_so_the_walk_decides() {
        let (_d, root) = merged_usr();
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY)
            .resolve(
                ResolveFlag::RESOLVE_IN_ROOT
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        match sys::openat2(root.fd.as_fd(), "lib/systemd", how) {
            Err(Errno::ELOOP) => {}
            // Kernels before 5.6 or a seccomp filter: the walk is the only path anyway.
            Err(Errno::ENOSYS | Errno::EPERM) => return,
            other => panic!("openat2 through a symlink: {other:?}"),
        }
        sys::openat2(root.fd.as_fd(), "usr/lib/systemd", how).expect("no symlink on the way");
    }

    #[test]
    fn fchmodat2_works_on_an_o_path_socket_descriptor() {
        let (d, _root) = tree();
        let sock = d.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        let fd = sys::open(&sock, OFlag::O_PATH | OFlag::O_NOFOLLOW, Mode::empty()).expect("open");
        match sys::fchmod_path_fd(fd.as_fd(), Mode::from_bits_truncate(0o640)) {
            Ok(()) => assert_eq!(lmeta(&sock).mode() & 0o7777, 0o640),
            Err(Errno::ENOSYS | Errno::EINVAL | Errno::EOPNOTSUPP) => {} // kernel before 6.6
            Err(e) => panic!("fchmodat2: {e}"),
        }
    }

    #[test]
    fn host_root() {
        let root = Root::open(Path::new("/"), 0).expect("host root");
        assert!(root.is_host());
        assert_eq!(
            root.host_path(Path::new("/etc/passwd")),
            Path::new("/etc/passwd")
        );
        let l = root.lookup(Path::new("/etc/passwd")).expect("lookup");
        assert!(l.exists());
    }
}
