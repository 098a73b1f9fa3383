//! `generate-docs DIR` (hidden): the man pages and shell completions, generated from the clap
//! definitions in `cli/mod.rs` so that they can never disagree with the binary. The package
//! build runs it; it is not part of the documented command line.
//!
//! Writes `DIR/man/hardend.8` (the daemon, its files, exit codes and signals),
//! `DIR/man/hardend-<command>.8` (one per subcommand, with its options) and
//! `DIR/completions/{hardend.bash,_hardend,hardend.fish}`.

use std::path::Path;

use anyhow::Context;
use clap::{Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::Man;

use super::{Cli, EXIT_OK};
use crate::fs::write_state_file;

/// What the generated pages cannot know from clap: files, exit status, signals, the journal
/// (SEE ALSO follows, listing the subcommands' pages).
const MAN_EXTRA: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Every selected control is pass, fixed, waived, not\-applicable, skipped or unsupported.
.TP
\fB1\fR
A selected control is drift, conflict or error (for apply: was not brought to pass or fixed).
.TP
\fB2\fR
Nothing could be evaluated: a rejected profile or settings file, bad arguments, an unknown \-\-control.
.SH SIGNALS
\fBhardend run\fR reloads its settings and profiles on \fBSIGHUP\fR (a rejected set keeps the last
good one in force and is reported as profile\-rejected in the journal) and stops cleanly with exit
status 0 on \fBSIGTERM\fR. It speaks the sd_notify protocol: READY=1 after the first convergence,
with a STATUS= summary, RELOADING=1 during a reload, and WATCHDOG=1 when systemd asks for it.
.SH FILES
.TP
\fI/etc/hardend/hardend.toml\fR
Settings: \fBenforce\fR (false: run only reports drift), \fBbuiltin_profiles\fR,
\fBpoll_interval\fR, \fBfight_limit\fR, \fBfight_window\fR. A missing file means the defaults.
.TP
\fI/etc/hardend/profiles.d/*.toml\fR
Site profiles and waivers, read in lexical order; a later control with the same id replaces an
earlier one, and a file named like a built\-in profile masks it.
.TP
\fI/usr/share/hardend/profiles/*.toml\fR
The built\-in profiles.
.TP
\fI/var/lib/hardend\fR
The originals hardend replaced (for \fBhardend rollback\fR) and the daemon's status.json.
.PP
Profile and settings files, and their directories, must be owned by root and not writable by
group or others.
.SH JOURNAL
Each event of \fBhardend run\fR is one journal entry with a MESSAGE_ID per event type and the
fields HARDEND_EVENT, HARDEND_CONTROL, HARDEND_KIND, HARDEND_TARGET, HARDEND_EXPECTED,
HARDEND_ACTUAL and HARDEND_ACTION, for example
.PP
.RS
journalctl \-u hardend HARDEND_EVENT=drift\-detected \-o verbose
.RE
.PP
\fBjournalctl \-x\fR adds the explanation from hardend's message catalog.
"#;

pub fn run(dir: &Path) -> anyhow::Result<i32> {
    // `help` is clap's own subcommand: completions offer it, a man page of its own is noise.
    let mut pages = Cli::command().disable_help_subcommand(true);
    pages.build();
    let mut page = Vec::new();
    let man = Man::new(pages.clone()).section("8");
    man.render(&mut page)?;
    page.extend_from_slice(MAN_EXTRA.as_bytes());
    let mut see_also = Vec::new();
    for sub in pages.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = Man::new(sub.clone()).section("8");
        let mut sub_page = Vec::new();
        man.render(&mut sub_page)?;
        write(dir, &format!("man/{}", man.get_filename()), &sub_page)?;
        let name = sub.get_display_name().unwrap_or(sub.get_name());
        see_also.push(format!("\\fB{}\\fR(8)", name.replace('-', "\\-")));
    }
    see_also.extend([
        "\\fBsystemctl\\fR(1)".into(),
        "\\fBjournalctl\\fR(1)".into(),
    ]);
    page.extend_from_slice(format!(".SH \"SEE ALSO\"\n{}\n", see_also.join(",\n")).as_bytes());
    write(dir, "man/hardend.8", &page)?;

    let mut cmd = without_hidden_subcommands(Cli::command());
    for (shell, name) in [
        (Shell::Bash, "hardend.bash"),
        (Shell::Zsh, "_hardend"),
        (Shell::Fish, "hardend.fish"),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, "hardend", &mut script);
        write(dir, &format!("completions/{name}"), &script)?;
    }
    Ok(EXIT_OK)
}

/// The command line as completions should offer it: clap's generators list hidden subcommands
/// too, so those are left out here.
fn without_hidden_subcommands(cmd: Command) -> Command {
    let subcommands: Vec<Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut visible = Command::new("hardend")
        .version(env!("CARGO_PKG_VERSION"))
        .args(cmd.get_arguments().cloned())
        .subcommands(subcommands);
    if let Some(about) = cmd.get_about() {
        visible = visible.about(about.clone());
    }
    visible
}

fn write(dir: &Path, name: &str, content: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_state_file(&path, content, 0o644)
        .with_context(|| format!("cannot write {}", path.display()))
}
