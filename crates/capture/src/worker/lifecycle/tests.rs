use super::*;

fn running(now: Instant) -> Lifecycle {
    Lifecycle {
        phase: Phase::Running(Running {
            timeout_at: Some(now + Duration::from_secs(10)),
            result_grace_at: None,
            heartbeat_at: Some(now + Duration::from_secs(5)),
            stall_at: None,
            stall_held: None,
        }),
        ending: None,
    }
}

#[test]
fn every_timer_of_a_state_is_in_its_deadline() {
    let now = Instant::now();
    let mut life = running(now);
    assert_eq!(life.deadline(), Some(now + Duration::from_secs(5)));
    if let Phase::Running(r) = &mut life.phase {
        r.result_grace_at = Some(now + Duration::from_secs(1));
    }
    assert_eq!(life.deadline(), Some(now + Duration::from_secs(1)));
    assert!(life.ask_to_end(EndedBy::Timeout, Duration::from_millis(300), now));
    assert_eq!(life.deadline(), Some(now + Duration::from_millis(300)));
    // A second reason does not replace the first, nor the kill time.
    assert!(!life.ask_to_end(EndedBy::Interrupted, Duration::from_secs(9), now));
    assert_eq!(life.reason(), Some(&EndedBy::Timeout));
}

#[test]
fn after_sigkill_the_close_waits_for_the_exit() {
    let now = Instant::now();
    let mut life = running(now);
    life.phase = Phase::Running(Running {
        timeout_at: None,
        result_grace_at: None,
        heartbeat_at: None,
        stall_at: None,
        stall_held: None,
    });
    life.killed(EndedBy::Interrupted, now);
    // Still running: nothing to time (SIGCHLD comes), so no busy wake-up.
    assert_eq!(life.deadline(), None);
    assert!(!life.close_due(now + Duration::from_secs(1)));
    life.phase = Phase::Draining {
        exited_at: now,
        drain: Pausable::started(Duration::from_secs(1), now),
    };
    assert_eq!(life.deadline(), Some(now + CLOSE_AFTER_KILL));
    assert!(life.close_due(now + CLOSE_AFTER_KILL));
}

#[test]
fn a_paused_drain_does_not_run_out() {
    let now = Instant::now();
    let second = Duration::from_secs(1);
    let mut drain = Pausable::started(second, now);
    drain.pause(now + second / 2);
    assert_eq!(drain.deadline(), None);
    assert!(!drain.expired(now + second * 10));
    drain.resume(now + second * 10);
    assert_eq!(drain.deadline(), Some(now + second * 10 + second / 2));
    drain.spend();
    drain.resume(now + second * 11);
    assert_eq!(drain.deadline(), None);
}

#[test]
fn an_attempt_goes_through_its_states_in_order() {
    let now = Instant::now();
    let second = Duration::from_secs(1);
    let mut life = Lifecycle::preparing();
    life.launched(
        now,
        Timers {
            timeout: Some(second * 9),
            heartbeat: None,
            stall: Some(second),
        },
    );
    assert!(life.is_running());
    life.output_seen(now + second / 2, Some(second));
    let due = life.take_due(now + second, None);
    assert!(!due.stall, "output put the stall off");
    assert!(life.take_due(now + second * 2, None).stall);
    // Not yet exited: nothing settles.
    assert_eq!(life.settle(), None);
    life.exited(now + second * 3, second);
    assert!(life.has_exited());
    assert_eq!(life.settle(), Some(now + second * 3));
    life.back_off(now + second * 5);
    assert!(life.is_waiting());
    assert!(!life.relaunch_due(now + second * 4));
    assert!(life.relaunch_due(now + second * 5));
    life.hurry(now + second * 4);
    assert!(life.relaunch_due(now + second * 4));
    // Ended while waiting: no relaunch, its end is due at once.
    assert!(life.end_waiting(EndedBy::Interrupted, now));
    assert!(!life.relaunch_due(now + second * 9));
    assert!(life.ended_while_waiting());
    assert_eq!(life.reason(), Some(&EndedBy::Interrupted));
}

#[test]
fn a_worker_sc_holds_back_does_not_stall_until_sc_reads_again() {
    let (mut life, now) = (Lifecycle::preparing(), Instant::now());
    let second = Duration::from_secs(1);
    life.launched(
        now,
        Timers {
            timeout: None,
            heartbeat: None,
            stall: Some(second),
        },
    );
    life.hold(true, now, Some(second));
    assert!(
        !life.take_due(now + second * 5, None).stall,
        "held: no stall"
    );
    life.hold(false, now + second * 5, Some(second));
    assert!(!life.take_due(now + second * 5, None).stall);
    assert!(
        life.take_due(now + second * 6, None).stall,
        "silent once read again"
    );
}

#[test]
fn only_an_unlaunched_worker_is_cancelled_and_no_grace_starts_while_ending() {
    let now = Instant::now();
    let mut life = running(now);
    assert!(!life.cancel());
    life.result_grace(Grace::Start(now));
    assert!(life.take_due(now, None).result_grace);
    life.ask_to_end(EndedBy::Timeout, Duration::from_secs(1), now);
    life.result_grace(Grace::Start(now));
    assert!(!life.take_due(now, None).result_grace);
    assert!(!life.end_waiting(EndedBy::Interrupted, now), "not waiting");
    let mut fresh = Lifecycle::preparing();
    assert!(fresh.cancel());
    assert!(fresh.is_finished());
}
