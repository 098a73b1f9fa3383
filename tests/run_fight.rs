//! Another writer keeps undoing hardend's revert: hardend must notice the fight, say so once,
//! back off instead of reverting at the other writer's pace (little CPU), and put the target
//! back once the writer has stopped and the back-off has run out.

#[path = "common/daemon.rs"]
mod daemon;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use daemon::*;

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn run_fight_is_reported_once_backs_off_cheaply_and_reverts_after_the_writer_stops() {
    let h = Host::new(true, "fight_limit = 3\nfight_window = \"10s\"\n");
    let target = h.file("/etc/app/contested.conf", b"c\n", 0o644);
    h.profile(
        "10-fight.toml",
        r#"
[profile]
name = "fight"
policy = "enforce"

[[control]]
id = "contested"
title = "contested.conf 0644 or stricter"
kind = "file-mode"
path = "/etc/app/contested.conf"
mode = "0644"
"#,
    );
    let d = h.start();
    let tck = clk_tck();

    let stop = Arc::new(AtomicBool::new(false));
    let chmods = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, chmods, target) = (Arc::clone(&stop), Arc::clone(&chmods), target.clone());
        std::thread::spawn(move || {
            let start = thread_cpu();
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::set_permissions(
                    &target,
                    std::os::unix::fs::PermissionsExt::from_mode(0o666),
                );
                chmods.fetch_add(1, Ordering::Relaxed);
            }
            thread_cpu() - start
        })
    };
    let cpu_before = d.cpu_ticks();
    let switches_before = d.context_switches();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let cpu_after = d.cpu_ticks();
    let switches = d.context_switches() - switches_before;
    let wall = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let writer_cpu = writer.join().unwrap();
    let stopped_at = Instant::now();

    let cpu = Duration::from_secs_f64((cpu_after - cpu_before) as f64 / tck as f64);
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    let reverts = d.count(|e| e.is("drift-reverted", "contested"));
    eprintln!(
        "fight: writer did {} chmods in {wall:?} using {writer_cpu:?} CPU; hardend used {cpu:?} CPU ({:.1}% of one core, {:.0}% of the writer's CPU), woke {switches} times, {reverts} reverts",
        chmods.load(Ordering::Relaxed),
        share * 100.0,
        cpu.as_secs_f64() / writer_cpu.as_secs_f64() * 100.0
    );

    let fights: Vec<Ev> = d.events().into_iter().filter(|e| e.ty == "fight").collect();
    assert_eq!(fights.len(), 1, "exactly one fight event; got {fights:#?}");
    let f = &fights[0];
    assert_eq!(f.get("control"), Some("contested"), "{}", f.raw);
    assert_eq!(
        f.get("target"),
        Some("/etc/app/contested.conf"),
        "{}",
        f.raw
    );
    assert_eq!(f.get("action"), Some("skipped"), "{}", f.raw);
    assert!(
        reverts < 20,
        "hardend reverted {reverts} times in 3 s of fighting instead of backing off"
    );

    // Once the writer has stopped, the target is put back when the back-off runs out.
    wait_for(
        Duration::from_secs(20),
        "the target reverted after the writer stopped",
        || (mode_of(&target) == Some(0o644)).then_some(()),
    );
    eprintln!(
        "fight: reverted {:?} after the writer stopped",
        stopped_at.elapsed()
    );

    // Backing off means not working at the other writer's pace. On a busy machine the writer
    // gets less CPU and makes fewer events, so hardend's share of a core alone could hide a
    // hot loop: its CPU is also held against the CPU the writer got.
    assert!(
        share < 0.30,
        "hardend used {:.1}% of a core while backed off in a fight (limit 30%)",
        share * 100.0
    );
    assert!(
        cpu.as_secs_f64() < 0.30 * writer_cpu.as_secs_f64(),
        "hardend used {cpu:?} CPU against the writer's {writer_cpu:?} while backed off in a fight: it works at the writer's pace (limit 30%)"
    );
}
