//! Validation: tasks, regions, IRQs, notifications, restart policies,
//! trust and budgets; each mistake named with file, key and remedy.

use super::{assert_error, error, irq_10_claimed_twice, parse, BASE};

#[test]
fn unknown_key_names_file_and_key() {
    assert_error(
        &BASE.replace("priority = 1", "priority = 1\nprio = 3"),
        &["prio", "unknown field"],
    );
    assert_error(&format!("{BASE}\n[qemu]\nmemroy = 3\n"), &["memroy"]);
    assert_error(&format!("colour = 1\n{BASE}"), &["colour"]);
}

#[test]
fn duplicate_task_names() {
    let text = format!("{BASE}\n[tasks.pong]\ncrate = \"x\"\n");
    assert_error(&text, &["duplicate", "pong"]);
}

#[test]
fn duplicate_notifications_slots_uses() {
    assert_error(
        &BASE.replace(
            "notifications = [\"fault\"]",
            "notifications = [\"fault\", \"fault\"]",
        ),
        &["`tasks.super.notifications` names 'fault' twice"],
    );
    assert_error(
        &BASE.replace("slots = [\"pong\"]", "slots = [\"pong\", \"pong\"]"),
        &["`tasks.ping.slots` names 'pong' twice"],
    );
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            "slots = [\"pong\"]\nuses = [\"uart\", \"uart\"]",
        ),
        &["`tasks.ping.uses` names 'uart' twice"],
    );
}

#[test]
fn unknown_slot() {
    assert_error(
        &BASE.replace("slots = [\"pong\"]", "slots = [\"pongg\"]"),
        &[
            "`tasks.ping.slots`",
            "no task named 'pongg'",
            "super, pong, ping, idle",
        ],
    );
}

#[test]
fn slot_to_less_important_task() {
    assert_error(
        &BASE.replace("slots = [\"pong\"]", "slots = [\"idle\"]"),
        &["task 'ping' (priority 2) may not send to 'idle' (priority 255): IPC only flows to more important tasks"],
    );
    // Equal priority is refused as well.
    let equal = BASE.replace("priority = 1\n", "priority = 2\n");
    assert_error(
        &equal,
        &["task 'ping' (priority 2) may not send to 'pong' (priority 2)"],
    );
    // The fix offered first is the caller's number (a client is less
    // important than what it calls), where there is one above.
    assert_error(
        &equal,
        &["give 'ping' a priority number above 2, or give 'pong' one below 2, or remove 'pong' from the slots"],
    );
    assert_error(
        &BASE.replace("slots = [\"pong\"]", "slots = [\"idle\"]"),
        &["(smaller numbers); give 'idle' one below 2, or remove 'idle' from the slots"],
    );
}

#[test]
fn too_many_regions() {
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            "uses = [\"uart\", \"virtio0\", \"virtio1\", \"virtio2\", \"virtio3\", \"virtio4\", \"virtio5\"]",
        ),
        &["task 'ping' would need 9 PMP entries", "at most 8", "drop 1 of its `uses`"],
    );
}

#[test]
fn a_driver_counts_its_ring_and_granted_window() {
    // text, ram, ring region, 4 for the granted window: 7; one `uses`
    // more fits, two do not.
    let driver = BASE.replace(
        "slots = [\"pong\"]",
        "slots = [\"pong\"]\ndrives = [\"block\"]\nuses = [\"uart\", \"virtio0\"]",
    );
    assert_error(
        &driver,
        &[
            "task 'ping' would need 9 PMP entries",
            "its ring region and 4 for the window the bus grants it",
            "drop 1",
        ],
    );
}

#[test]
fn queues_only_on_drivers() {
    assert_error(
        &BASE.replace("slots = [\"pong\"]", "slots = [\"pong\"]\nqueues = 2"),
        &["`tasks.ping.queues`: only a driver"],
    );
}

#[test]
fn unknown_device_window() {
    assert_error(
        &BASE.replace("slots = [\"pong\"]", "uses = [\"virtio9\"]"),
        &["`tasks.ping.uses`", "'virtio9'", "uart, virtio0"],
    );
}

#[test]
fn two_tasks_claim_one_irq() {
    let text = irq_10_claimed_twice();
    assert_error(
        &text,
        &["IRQ 10 is claimed by both task 'super' (notification 'uart') and task 'ping' (notification 'rx')"],
    );
}

#[test]
fn interrupt_names_unknown_notification() {
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            "notifications = [\"timer\"]\ninterrupts = { rx = 10 }",
        ),
        &["`tasks.ping.interrupts.rx`: 'rx' is not one of `tasks.ping.notifications` (timer)"],
    );
}

#[test]
fn irq_out_of_range() {
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            "notifications = [\"rx\"]\ninterrupts = { rx = 128 }",
        ),
        &["`tasks.ping.interrupts.rx` = 128", "1 to 127"],
    );
}

#[test]
fn too_many_notifications() {
    let names: Vec<String> = (0..33).map(|i| format!("\"n{i}\"")).collect();
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            &format!("notifications = [{}]", names.join(",")),
        ),
        &[
            "`tasks.ping.notifications` has 33 names",
            "32 notification bits",
        ],
    );
}

#[test]
fn non_power_of_two() {
    assert_error(
        &BASE.replace(
            "text = 8192\nram = 2048\nstack = 1024\nslots",
            "text = 5000\nram = 2048\nstack = 1024\nslots",
        ),
        &[
            "`tasks.ping.text` = 5000 is not a power of two",
            "use 4096 or 8192",
        ],
    );
    assert_error(
        &BASE.replace("ram = 32768", "ram = 30000"),
        &["`kernel.ram` = 30000 is not a power of two"],
    );
}

/// A task in its own slots is told it cannot call itself, not offered
/// priorities no number could satisfy ("give 'ping' a priority number
/// above 2, or give 'ping' one below 2").
#[test]
fn a_task_cannot_call_itself() {
    let text = BASE.replace("slots = [\"pong\"]", "slots = [\"pong\", \"ping\"]");
    assert_error(
        &text,
        &["`tasks.ping.slots`: task 'ping' names itself; a task cannot call itself"],
    );
    let msg = super::error(&text);
    assert!(!msg.contains("priority number"), "{msg}");
}

/// Below the smallest task region, the size to use is that region (it
/// said "use 1 or 2" for `text = 0`).
#[test]
fn a_size_below_the_smallest_region_suggests_the_smallest() {
    let text = BASE.replace(
        "text = 8192\nram = 2048\nstack = 1024\nslots",
        "text = 0\nram = 2048\nstack = 1024\nslots",
    );
    assert_error(
        &text,
        &[
            "`tasks.ping.text` = 0 is not a power of two",
            "use 256, the smallest",
        ],
    );
    assert!(!super::error(&text).contains("use 1 or 2"));
    assert_error(
        &BASE.replace(
            "text = 8192\nram = 2048\nstack = 1024\nslots",
            "text = 8192\nram = 100\nstack = 64\nslots",
        ),
        &[
            "`tasks.ping.ram` = 100 is not a power of two",
            "use 256, the smallest",
        ],
    );
}

/// An image name longer than a file name may be was refused only by the
/// file system, mid-build ("File name too long (os error 36)").
#[test]
fn a_long_image_name_is_refused() {
    let long = format!("a{}", "b".repeat(300));
    assert_error(
        &BASE.replace("name = \"t\"", &format!("name = \"{long}\"")),
        &["`name` is 301 bytes long", "at most 64 bytes"],
    );
    let ok = "a".repeat(64);
    parse(&BASE.replace("name = \"t\"", &format!("name = \"{ok}\""))).unwrap();
}

#[test]
fn region_too_small() {
    assert_error(
        &BASE.replace("ram = 1024\nstack = 512", "ram = 128\nstack = 64"),
        &["`tasks.idle.ram` = 128 is below the smallest task region (256 bytes)"],
    );
}

#[test]
fn supervisor_count() {
    assert_error(
        &BASE.replace("supervisor = true\n", ""),
        &["no task has `supervisor = true`"],
    );
    assert_error(
        &BASE.replace("priority = 255", "priority = 255\nsupervisor = true"),
        &[
            "tasks 'super', 'idle' all have `supervisor = true`",
            "exactly one",
        ],
    );
}

/// A task as important as the supervisor, or more, could keep it from
/// ever running (and restarting anything): only the supervisor may be
/// that important. A user's task at priority 0 was accepted.
#[test]
fn only_the_supervisor_is_that_important() {
    assert_error(
        &BASE.replace("crate = \"pong\"\npriority = 1", "crate = \"pong\"\npriority = 0"),
        &["`tasks.pong.priority` = 0: only the supervisor ('super', priority 0) may be that important", "give 'pong' a priority number above 0"],
    );
    let below = BASE
        .replace("supervisor = true", "supervisor = true\npriority = 1")
        .replacen("priority = 0\n", "", 1);
    assert_error(
        &below,
        &["`tasks.pong.priority` = 1: only the supervisor ('super', priority 1)"],
    );
}

#[test]
fn stack_not_below_ram() {
    assert_error(
        &BASE.replace("ram = 1024\nstack = 512", "ram = 1024\nstack = 1024"),
        &["`tasks.idle.stack` = 1024 must be smaller than `tasks.idle.ram` = 1024"],
    );
    assert_error(
        &BASE.replace("stack = 4096", "stack = 32768"),
        &["`kernel.stack` = 32768 must be smaller"],
    );
}

#[test]
fn stack_alignment() {
    assert_error(
        &BASE.replace("ram = 1024\nstack = 512", "ram = 1024\nstack = 500"),
        &["`tasks.idle.stack` = 500: the stack must be a non-zero multiple of 16"],
    );
}

#[test]
fn restart_policy_checks() {
    assert_error(
        &BASE.replace(
            "priority = 1",
            "priority = 1\nrestart = { policy = \"sometimes\" }",
        ),
        &["unknown variant `sometimes`"],
    );
    assert_error(
        &BASE.replace(
            "priority = 1",
            "priority = 1\nrestart = { policy = \"immediate\", backoff-ms = 5 }",
        ),
        &["`tasks.pong.restart.backoff-ms` only applies to policy \"backoff\""],
    );
    assert_error(
        &BASE.replace(
            "priority = 1",
            "priority = 1\nrestart = { policy = \"never\", limit = 5 }",
        ),
        &["mean nothing with policy \"never\""],
    );
    // The supervisor counts 16 fault times: a limit of 16 would never be
    // reached.
    assert_error(
        &BASE.replace(
            "priority = 1",
            "priority = 1\nrestart = { policy = \"backoff\", backoff-ms = 5, limit = 16 }",
        ),
        &["`tasks.pong.restart.limit` = 16: the supervisor counts at most 15 faults"],
    );
    assert!(parse(&BASE.replace(
        "priority = 1",
        "priority = 1\nrestart = { policy = \"backoff\", backoff-ms = 5, limit = 15 }",
    ))
    .is_ok());
}

#[test]
fn drivers_are_untrusted_and_budgeted_by_default() {
    let app = parse(&BASE.replace("priority = 1", "priority = 1\ndrives = [\"block\"]")).unwrap();
    let pong = &app.tasks[1];
    assert!(!pong.is_trusted());
    assert_eq!(pong.budget(), Some(crate::config::DEFAULT_DRIVER_BUDGET_MS));
    let ping = &app.tasks[2];
    assert!(ping.is_trusted());
    assert_eq!(ping.budget(), None);

    let app = parse(&BASE.replace(
        "priority = 1",
        "priority = 1\ndrives = [\"block\"]\ntrusted = true\nbudget-ms = 7",
    ))
    .unwrap();
    assert!(app.tasks[1].is_trusted());
    assert_eq!(app.tasks[1].budget(), Some(7));
    let app = parse(&BASE.replace(
        "priority = 2\n",
        "priority = 2\ntrusted = false\nbudget-ms = 300\n",
    ))
    .unwrap();
    assert!(!app.tasks[2].is_trusted());
    assert_eq!(app.tasks[2].budget(), Some(300));
}

#[test]
fn drivers_have_a_request_deadline() {
    let app = parse(&BASE.replace("priority = 1", "priority = 1\ndrives = [\"block\"]")).unwrap();
    assert_eq!(
        app.tasks[1].deadline(),
        Some(crate::config::DEFAULT_DEADLINE_MS)
    );
    assert_eq!(app.tasks[2].deadline(), None);
    let app = parse(&BASE.replace(
        "priority = 1",
        "priority = 1\ndrives = [\"block\"]\ndeadline-ms = 250",
    ))
    .unwrap();
    assert_eq!(app.tasks[1].deadline(), Some(250));
    assert_error(
        &BASE.replace("priority = 2\n", "priority = 2\ndeadline-ms = 250\n"),
        &["`tasks.ping.deadline-ms` only applies to drivers"],
    );
    for bad in ["0", "1401"] {
        assert_error(
            &BASE.replace(
                "priority = 1",
                &format!("priority = 1\ndrives = [\"block\"]\ndeadline-ms = {bad}"),
            ),
            &[&format!(
                "`tasks.pong.deadline-ms` = {bad}: use 1 to 1400 ms"
            )],
        );
    }
}

#[test]
fn trust_and_budget_mistakes_are_named() {
    assert_error(
        &BASE.replace(
            "supervisor = true",
            "supervisor = true\ndrives = [\"block\"]\ntrusted = false\nbudget-ms = 5",
        ),
        &[
            "3 problem(s)",
            "`tasks.super.drives`: the supervisor is trusted by every task and cannot be a driver",
            "`tasks.super.trusted` = false: the supervisor is trusted by definition",
            "`tasks.super.budget-ms`: the supervisor cannot have a CPU budget",
        ],
    );
    assert_error(
        &BASE.replace("priority = 1", "priority = 1\ndrives = [\"block\"]\nbudget-ms = 0"),
        &["`tasks.pong.budget-ms` = 0: a task must be allowed to run; give at least 1 ms, or remove the key for the drivers' default of 200 ms"],
    );
    assert_error(
        &BASE.replace("priority = 2\n", "priority = 2\nbudget-ms = 0\n"),
        &[
            "`tasks.ping.budget-ms` = 0",
            "or remove the key for no limit",
        ],
    );
    assert_error(
        &BASE.replace("priority = 2\n", "priority = 2\nbudget-ms = 60001\n"),
        &["`tasks.ping.budget-ms` = 60001 is above the largest budget, 60000 ms"],
    );
    assert_error(
        &BASE.replace("priority = 2\n", "priority = 2\ntrusted = \"no\"\n"),
        &["trusted", "invalid type"],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = BASE.replace("slots = [\"pong\"]", "slots = [\"idle\", \"nobody\"]");
    let msg = error(&text);
    assert!(msg.contains("2 problem(s)"), "{msg}");
}

#[test]
fn bad_names() {
    assert_error(
        &BASE.replace("name = \"t\"", "name = \"a/b\""),
        &["`name` = \"a/b\""],
    );
    assert_error(
        &BASE
            .replace("[tasks.pong]", "[tasks.\"po,ng\"]")
            .replace("[\"pong\"]", "[\"po,ng\"]"),
        &["`tasks.po,ng`"],
    );
}

#[test]
fn tasks_with_a_budget_split_four_fifths_of_the_cpu_by_default() {
    // pong: a driver (budgeted); ping: no budget, held to no share.
    let app = parse(&BASE.replace("priority = 1", "priority = 1\ndrives = [\"block\"]")).unwrap();
    assert_eq!(app.cpu_share(&app.tasks[1]), 80);
    assert_eq!(app.cpu_share(&app.tasks[2]), 100);
    assert_eq!(app.cpu_share(&app.tasks[0]), 100, "the supervisor");
    // Both budgeted, neither says: 40 each. One says 50: the other gets 30.
    let both = BASE
        .replace("priority = 1", "priority = 1\ndrives = [\"block\"]")
        .replace("priority = 2\n", "priority = 2\nbudget-ms = 20\n");
    let app = parse(&both).unwrap();
    assert_eq!(app.cpu_share(&app.tasks[1]), 40);
    assert_eq!(app.cpu_share(&app.tasks[2]), 40);
    let app = parse(&both.replace("budget-ms = 20\n", "budget-ms = 20\ncpu-share = 50\n")).unwrap();
    assert_eq!(app.cpu_share(&app.tasks[1]), 30);
    assert_eq!(app.cpu_share(&app.tasks[2]), 50);
    // The default image: three drivers, 26 % each.
    let app = super::default_app();
    let drivers: Vec<u8> = app
        .tasks
        .iter()
        .filter(|t| t.is_driver())
        .map(|t| app.cpu_share(t))
        .collect();
    assert_eq!(drivers, [26, 26, 26]);
}

#[test]
fn share_mistakes_are_named() {
    let driver = BASE.replace("priority = 1", "priority = 1\ndrives = [\"block\"]");
    assert_error(
        &BASE.replace("priority = 2\n", "priority = 2\ncpu-share = 10\n"),
        &[
            "`tasks.ping.cpu-share`: only a task with a CPU budget is held to a share",
            "add `budget-ms` or remove the key",
        ],
    );
    assert_error(
        &BASE.replace("supervisor = true", "supervisor = true\ncpu-share = 10"),
        &["`tasks.super.cpu-share`: the supervisor has no CPU budget"],
    );
    for bad in ["0", "81"] {
        assert_error(
            &driver.replace(
                "drives = [\"block\"]",
                &format!("drives = [\"block\"]\ncpu-share = {bad}"),
            ),
            &[&format!(
                "`tasks.pong.cpu-share` = {bad}: give a percentage from 1 to 80"
            )],
        );
    }
    let both = driver.replace(
        "priority = 2\n",
        "priority = 2\nbudget-ms = 20\ncpu-share = 50\n",
    );
    assert_error(
        &both.replace(
            "drives = [\"block\"]",
            "drives = [\"block\"]\ncpu-share = 40",
        ),
        &["add up to 90 % (pong 40, ping 50): at most 80 % in all"],
    );
    assert_error(
        &both.replace("cpu-share = 50", "cpu-share = 80"),
        &[
            "1 task(s) with a CPU budget and no `cpu-share` (pong) would split 0 % of the CPU",
            "(ping 80)",
        ],
    );
    // Exactly 80 in all is fine.
    let app = parse(&both.replace(
        "drives = [\"block\"]",
        "drives = [\"block\"]\ncpu-share = 30",
    ))
    .unwrap();
    assert_eq!(app.cpu_share(&app.tasks[1]), 30);
}

/// A static virtio window has no holes: its queue and feature registers
/// would be the task's, and so the device's DMA (a red team's task wrote
/// QueuePFN by hand and read kernel text through the disk). Only the
/// supervisor, the bus, holds one; drivers get theirs from the bus.
#[test]
fn only_the_supervisor_may_use_a_virtio_window() {
    for window in ["virtio7", "virtio0", "virtio-bus"] {
        assert_error(
            &BASE.replace(
                "slots = [\"pong\"]",
                &format!("slots = [\"pong\"]\nuses = [\"{window}\"]"),
            ),
            &[
                &format!("`tasks.ping.uses`: '{window}' is a virtio-mmio window"),
                "only the supervisor",
                "`drives`",
            ],
        );
    }
    let text = BASE.replace(
        "notifications = [\"fault\"]",
        "notifications = [\"fault\"]\nuses = [\"virtio-bus\"]",
    );
    parse(&text).expect("the supervisor may hold the bus window");
}

/// The supervisor's tables hold `supervisor_core::MAX_TASKS` tasks: a task
/// beyond them was restarted at every fault, `never` or not (a user's
/// 41st task, 22,990 times in 20 s). More tasks are refused.
#[test]
fn no_more_tasks_than_the_supervisor_tracks() {
    let filler = |n: usize| {
        (0..n)
            .map(|i| {
                format!(
                    "\n[tasks.f{i}]\ncrate = \"task-idle\"\npriority = 254\ntext = 4096\nram = 1024\nstack = 512\n"
                )
            })
            .collect::<String>()
    };
    // BASE has 4 tasks.
    let at_limit = format!("{BASE}{}", filler(supervisor_core::MAX_TASKS - 4));
    if let Err(e) = parse(&at_limit) {
        let e = format!("{e:#}");
        assert!(!e.contains("tasks: an image has at most"), "{e}");
    }
    assert_error(
        &format!("{BASE}{}", filler(supervisor_core::MAX_TASKS - 3)),
        &["65 tasks: an image has at most 64", "merge or drop 1"],
    );
}

/// The bus registers `virtio_bus::MAX_DRIVERS` drivers; a driver waiting
/// for a device keeps its place. With one more, the last to register was
/// refused (`TooManyDrivers`) for good, whichever it was: more are
/// refused.
#[test]
fn no_more_drivers_than_the_bus_registers() {
    let drivers = |n: usize| {
        (0..n)
            .map(|i| {
                format!(
                    "\n[tasks.d{i}]\ncrate = \"virtio-rng\"\ndrives = [\"entropy\"]\npriority = 3\ntext = 4096\nram = 1024\nstack = 512\nslots = [\"super\"]\n"
                )
            })
            .collect::<String>()
    };
    let says = "tasks have `drives`: the bus registers at most";
    let at_limit = format!("{BASE}{}", drivers(virtio_bus::MAX_DRIVERS));
    if let Err(e) = parse(&at_limit) {
        let e = format!("{e:#}");
        assert!(!e.contains(says), "{e}");
    }
    assert_error(
        &format!("{BASE}{}", drivers(virtio_bus::MAX_DRIVERS + 1)),
        &[
            "9 tasks have `drives`: the bus registers at most 8",
            "drop 1",
        ],
    );
}

/// Mistakes a user's session found accepted: each is refused now, saying
/// what to do.
#[test]
fn app_file_mistakes_a_user_found_are_refused() {
    // A region near 2^63 panicked in the layout's sums.
    assert_error(
        &BASE.replace(
            "ram = 2048\nstack = 1024\nslots",
            "ram = 9223372036854775808\nstack = 1024\nslots",
        ),
        &["`tasks.ping.ram` = 9223372036854775808 is larger than the machine's RAM"],
    );
    // A kernel stack of 16 bytes hung at boot without a word.
    assert_error(
        &BASE.replace("stack = 4096", "stack = 16"),
        &["`kernel.stack` = 16: below 4096 bytes"],
    );
    // `limit = 0` meant no limit.
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            "slots = [\"pong\"]\nrestart = { policy = \"backoff\", backoff-ms = 5, limit = 0 }",
        ),
        &["`tasks.ping.restart.limit` = 0: remove `limit` for no limit"],
    );
    // A supervisor that does not start left every driver unregistered.
    assert_error(
        &BASE.replace("supervisor = true", "supervisor = true\nstart = false"),
        &["`tasks.super.start` = false: the supervisor must start at boot"],
    );
    // Two names, one constant: rustc's error named neither.
    assert_error(
        &format!("{BASE}\n[tasks.p-x]\ncrate = \"pong\"\npriority = 9\ntext = 8192\nram = 2048\nstack = 1024\n[tasks.p_x]\ncrate = \"pong\"\npriority = 9\ntext = 8192\nram = 2048\nstack = 1024\n"),
        &["`tasks.p-x` and `tasks.p_x` would both be the task constant `P_X`"],
    );
    // A task constant that is one of userlib's tables: userlib failed in
    // rustc with "the name `SERVES` is defined multiple times".
    for name in ["serves", "Restart", "authority"] {
        let c = name.to_ascii_uppercase();
        assert_error(
            &format!("{BASE}\n[tasks.{name}]\ncrate = \"pong\"\npriority = 9\ntext = 8192\nram = 2048\nstack = 1024\n"),
            &[&format!("`tasks.{name}`: its task constant `{c}` is taken by userlib's table of that name")],
        );
    }
    // A task's ELF is dist/<task>.elf: one named 'image' was overwritten
    // by the image's dist/image.elf, and dump and gdb read the image as it.
    assert_error(
        &format!("{BASE}\n[tasks.image]\ncrate = \"pong\"\npriority = 9\ntext = 8192\nram = 2048\nstack = 1024\n"),
        &["`tasks.image`: 'image' would be built as dist/image.elf, which is the whole image's file"],
    );
    // A disk in xtask's own files: dist/image.elf was made the disk.
    for (file, taken) in [
        ("dist/image.elf", "dist"),
        ("./kconfig.rs", "kconfig.rs"),
        ("run.lock", "run.lock"),
    ] {
        assert_error(
            &format!("{BASE}\n[[qemu.drives]]\nfile = \"{file}\"\nsize = 512\ndevice = \"virtio-blk-device\"\n"),
            &[&format!("`qemu.drives[0].file` = \"{file}\": target/t/{taken} is xtask's own")],
        );
    }
    parse(&format!("{BASE}\n[[qemu.drives]]\nfile = \"disks/dist.img\"\nsize = 512\ndevice = \"virtio-blk-device\"\n")).unwrap();
    // A timeout the runner cannot add to the clock panicked xtask.
    assert_error(
        &format!("{BASE}\n[test]\ntimeout = 18446744073709551615\n"),
        &["`test.timeout` = 18446744073709551615: at most 86400 s (a day)"],
    );
    assert_error(
        &format!(
            "{BASE}\n[test]\nkind = \"console\"\nsteps = [{{ send = \"x\", timeout = 86401 }}]\n"
        ),
        &["`test.steps[0]`.timeout = 86401: at most 86400 s (a day)"],
    );
    parse(&format!("{BASE}\n[test]\ntimeout = 86400\n")).unwrap();
    // More virtio devices than the machine's eight slots: QEMU stopped at
    // boot with "No 'virtio-bus' bus found for device".
    let drives: String = (0..8)
        .map(|i| format!("[[qemu.drives]]\nfile = \"d{i}.img\"\nsize = 512\ndevice = \"virtio-blk-device\"\n"))
        .collect();
    assert_error(
        &format!("{BASE}\n[qemu]\nargs = [\"-device\", \"virtio-rng-device,id=r\", \"-device\", \"virtio-rng-pci\"]\n{drives}[[qemu.nics]]\n"),
        &["`qemu`: 10 virtio devices (1 in `qemu.args`, 8 `qemu.drives`, 1 `qemu.nics`) but the virt machine has 8 virtio-mmio slots", "remove 2"],
    );
    // Eight fit.
    parse(&format!("{BASE}\n{drives}")).unwrap();
    // Two drives on one file: QEMU blamed "another process".
    assert_error(
        &format!("{BASE}\n[[qemu.drives]]\nfile = \"d.img\"\nsize = 512\ndevice = \"virtio-blk-device\"\n[[qemu.drives]]\nfile = \"d.img\"\nsize = 512\ndevice = \"virtio-blk-device\"\n"),
        &["`qemu.drives[1].file` = \"d.img\" is `qemu.drives[0]`'s file too"],
    );
}

/// A driver without a queue was refused by the kernel at every probe,
/// for ever; two forwards of one host port failed at run time with
/// "Address already in use". Both are the app file's mistakes.
#[test]
fn no_queue_and_one_host_port_twice_are_refused() {
    let driver = BASE.replace(
        "slots = [\"pong\"]",
        "slots = [\"pong\"]\ndrives = [\"block\"]\nnotifications = [\"irq\", \"remove\", \"probe\"]\nqueues = 0",
    );
    assert_error(
        &driver,
        &["`tasks.ping.queues` = 0: a driver's device needs at least one virtqueue"],
    );
    let forwards = format!(
        "{BASE}\n[[qemu.nics]]\nforwards = [\n  {{ proto = \"tcp\", guest = 80, host = 18080 }},\n  {{ proto = \"udp\", guest = 7, host = 18080 }},\n  {{ proto = \"tcp\", guest = 7, host = 18080 }},\n]\n"
    );
    let e = error(&forwards);
    assert!(
        e.contains("`qemu.nics[0].forwards[2].host` = 18080: `qemu.nics[0]` already forwards tcp port 18080"),
        "{e}"
    );
    assert!(
        !e.contains("forwards[1].host"),
        "udp and tcp may share a number: {e}"
    );
}

/// An image named `release` was built into cargo's own target/release.
#[test]
fn an_image_name_may_not_be_one_of_targets_own_directories() {
    for name in ["release", "debug", "campaign"] {
        assert_error(
            &BASE.replace("name = \"t\"", &format!("name = \"{name}\"")),
            &[&format!(
                "target/{name} is cargo's or xtask's own directory"
            )],
        );
    }
}

/// Status records and logs carry a task name's first 16 bytes: a longer
/// name is refused (a user's 51-byte one showed cut, and two alike would
/// look the same).
#[test]
fn a_task_name_is_at_most_16_bytes() {
    assert_error(
        &BASE.replace("[tasks.ping]", "[tasks.ping_with_a_long_name]"),
        &["`tasks.ping_with_a_long_name`: a task name is at most 16 bytes"],
    );
    let sixteen = BASE.replace("[tasks.ping]", "[tasks.ping_sixteen_byt]");
    if let Err(e) = parse(&sixteen) {
        let e = format!("{e:#}");
        assert!(!e.contains("at most 16 bytes"), "{e}");
    }
}

/// Every table `sys/userlib/build.rs` generates (a `pub const NAME:` it
/// writes itself, not the task constants) is one a task may not be named
/// after.
#[test]
fn userlib_tables_are_the_build_scripts() {
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sys/userlib/build.rs"),
    )
    .unwrap();
    let mut tables: Vec<&str> = script
        .split("pub const ")
        .skip(1)
        .filter_map(|rest| rest.split(':').next())
        .filter(|name| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    tables.sort();
    let mut known = crate::config::check::USERLIB_TABLES.to_vec();
    known.sort();
    assert_eq!(tables, known, "sys/userlib/build.rs's tables changed");
}
