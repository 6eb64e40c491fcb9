//! What an app file may grant: driver classes, operator and observer
//! rights, IRQ ownership, posts, test-only features, drive paths.

use super::{assert_error, error, irq_10_claimed_twice, parse, BASE};

/// The 1-based line of the first line of `text` that starts with `start`.
fn line(text: &str, start: &str) -> usize {
    text.lines().position(|l| l.starts_with(start)).unwrap() + 1
}

/// BASE with pong as an entropy driver.
fn with_driver(extra: &str) -> String {
    BASE.replace(
        "crate = \"pong\"",
        &format!("crate = \"pong\"\ndrives = [\"entropy\"]{extra}"),
    )
}

#[test]
fn authority_declarations_parse() {
    let text = with_driver("")
        .replace(
            "slots = [\"pong\"]",
            "slots = [\"pong\"]\noperator = true\nposts = [\"idle\"]",
        )
        .replace(
            "priority = 255",
            "priority = 255\nnotifications = [\"x\", \"wake\"]\npostable = [\"wake\"]",
        );
    let app = parse(&text).unwrap();
    assert_eq!(app.tasks[1].device_ids(), [4]);
    assert!(app.tasks[2].operator);
    assert_eq!(app.tasks[3].postable_bits(), 0b10);
    assert_eq!(app.tasks[2].posts, ["idle"]);
}

/// A driver registers with the bus by calling the supervisor: `drives`
/// without the supervisor in `slots` could never be bound (a user's
/// server given `drives` was built without a word).
#[test]
fn a_driver_must_be_able_to_call_the_supervisor() {
    let text = with_driver("").replace("slots = [\"super\"]\n", "");
    assert_error(
        &text,
        &[
            &format!("test.toml:{}: `tasks.pong.drives`", line(&text, "drives")),
            "task 'pong' is declared a driver but cannot call 'super' (not in its `slots`)",
            "add 'super' to `tasks.pong.slots`, or remove `drives` if 'pong' is not a driver",
        ],
    );
    parse(&with_driver("")).expect("a driver with the supervisor in its slots");
}

#[test]
fn unknown_class_names_task_and_line() {
    let text = BASE.replace("crate = \"pong\"", "crate = \"pong\"\ndrives = [\"blok\"]");
    let line = text.lines().position(|l| l.starts_with("drives")).unwrap() + 1;
    assert_error(
        &text,
        &[
            &format!("test.toml:{line}: `tasks.pong.drives`"),
            "task 'pong' names unknown device class 'blok'",
            "block, console, entropy",
        ],
    );
    // Ids are accepted as numbers, within 1..64.
    assert!(parse(&BASE.replace("crate = \"pong\"", "crate = \"pong\"\ndrives = [\"2\"]")).is_ok());
    assert_error(
        &BASE.replace("crate = \"pong\"", "crate = \"pong\"\ndrives = [\"64\"]"),
        &["unknown device class '64'"],
    );
}

/// A class listed twice is refused, like a name twice in the other lists
/// (by name or by its id).
#[test]
fn a_class_listed_twice_is_refused() {
    let text = BASE.replace(
        "crate = \"pong\"",
        "crate = \"pong\"\ndrives = [\"entropy\", \"entropy\"]",
    );
    assert_error(
        &text,
        &[
            &format!(
                "test.toml:{}: `tasks.pong.drives` names 'entropy' twice",
                line(&text, "drives")
            ),
            "list each class once",
        ],
    );
    assert_error(
        &BASE.replace(
            "crate = \"pong\"",
            "crate = \"pong\"\ndrives = [\"entropy\", \"4\"]",
        ),
        &["`tasks.pong.drives` names '4' twice (as 'entropy')"],
    );
    parse(&BASE.replace(
        "crate = \"pong\"",
        "crate = \"pong\"\ndrives = [\"entropy\", \"block\"]",
    ))
    .unwrap();
}

#[test]
fn driver_with_no_class() {
    let text = BASE.replace("crate = \"pong\"", "crate = \"virtio-rng\"");
    assert_error(
        &text,
        &[
            &format!("test.toml:{}: `tasks.pong`", line(&text, "[tasks.pong]")),
            "task 'pong' runs driver crate 'virtio-rng' but declares no class",
            "drives = [",
        ],
    );
    let text = BASE.replace("crate = \"pong\"", "crate = \"pong\"\ndrives = []");
    assert_error(
        &text,
        &[
            &format!(
                "test.toml:{}: `tasks.pong.drives` is empty",
                line(&text, "drives")
            ),
            "task 'pong'",
        ],
    );
}

#[test]
fn operator_rights_for_a_driver() {
    let text = with_driver("\noperator = true");
    assert_error(
        &text,
        &[
            &format!(
                "test.toml:{}: `tasks.pong.operator`",
                line(&text, "operator")
            ),
            "task 'pong' is a driver",
            "may not hold operator rights",
        ],
    );
}

#[test]
fn observer_rights_for_a_driver() {
    let text = with_driver("\nobserver = true");
    assert_error(
        &text,
        &[
            &format!(
                "test.toml:{}: `tasks.pong.observer`",
                line(&text, "observer")
            ),
            "task 'pong' is a driver",
            "may not read other tasks' status",
        ],
    );
}

#[test]
fn two_tasks_owning_one_irq_name_the_line() {
    let text = irq_10_claimed_twice();
    let line = text.lines().position(|l| l.contains("rx = 10")).unwrap() + 1;
    assert_error(
        &text,
        &[
            &format!("test.toml:{line}: `tasks.ping.interrupts.rx`"),
            "IRQ 10 is claimed by both",
        ],
    );
    // A static route to a virtio slot's IRQ would collide with the
    // bus's grant in an image with drivers.
    let text = with_driver("").replace(
        "slots = [\"pong\"]",
        "notifications = [\"rx\"]\ninterrupts = { rx = 7 }",
    );
    assert_error(
        &text,
        &[
            "`tasks.ping.interrupts.rx` = 7",
            "virtio-mmio slot 6",
            "task 'ping' may not route it statically",
        ],
    );
}

#[test]
fn conflicting_post_grants() {
    // Posts to a task that accepts none.
    let text = BASE.replace(
        "slots = [\"pong\"]",
        "slots = [\"pong\"]\nposts = [\"idle\"]",
    );
    assert_error(
        &text,
        &[
            &format!("test.toml:{}: `tasks.ping.posts`", line(&text, "posts")),
            "task 'ping' is granted posts to 'idle', but 'idle' declares no `postable`",
        ],
    );
    // Posts to an unknown task, itself, or the supervisor.
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            "slots = [\"pong\"]\nposts = [\"nobody\"]",
        ),
        &["`tasks.ping.posts`: there is no task named 'nobody'"],
    );
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            "slots = [\"pong\"]\nnotifications = [\"a\"]\npostable = [\"a\"]\nposts = [\"ping\"]",
        ),
        &["task 'ping' names itself"],
    );
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            "slots = [\"pong\"]\nposts = [\"super\"]",
        ),
        &["may not post to the supervisor 'super'"],
    );
    // Postable interrupt bits, the fault bit, unknown names.
    assert_error(
        &BASE.replace(
            "slots = [\"pong\"]",
            "notifications = [\"rx\"]\ninterrupts = { rx = 10 }\npostable = [\"rx\"]",
        ),
        &[
            "`tasks.ping.postable`: 'rx' is an interrupt's bit",
            "task 'ping'",
        ],
    );
    assert_error(
        &BASE.replace(
            "notifications = [\"fault\"]",
            "notifications = [\"fault\"]\npostable = [\"fault\"]",
        ),
        &["`tasks.super.postable`: 'fault' is bit 0, the supervisor's fault bit"],
    );
    assert_error(
        &BASE.replace("slots = [\"pong\"]", "postable = [\"wake\"]"),
        &["`tasks.ping.postable`: 'wake' is not one of `tasks.ping.notifications`"],
    );
}

#[test]
fn test_only_features_need_a_test_image() {
    let text = BASE
        .replace(
            "notifications = [\"fault\"]",
            "notifications = [\"fault\"]\nfeatures = [\"test-control\"]",
        )
        .replace(
            "stack = 4096",
            "stack = 4096\nfeatures = [\"fault-injection\"]",
        );
    let msg = error(&text);
    assert!(
        msg.contains("`kernel.features`: 'fault-injection' is for test images only"),
        "{msg}"
    );
    assert!(
        msg.contains("`tasks.super.features`: 'test-control' is for test images only"),
        "{msg}"
    );
    assert!(parse(&format!("{text}\n[test]\ntimeout = 5\n")).is_ok());
}

#[test]
fn drive_paths_stay_inside_target() {
    let text = format!("{BASE}\n[[qemu.drives]]\nfile = \"../x.img\"\nsize = 512\ndevice = \"virtio-blk-device\"\n");
    assert_error(&text, &["`qemu.drives[0].file` = \"../x.img\""]);
}

#[test]
fn drive_sizes_are_whole_sectors() {
    let drive = |size: u64| {
        format!("{BASE}\n[[qemu.drives]]\nfile = \"x.img\"\nsize = {size}\ndevice = \"virtio-blk-device\"\n")
    };
    assert_error(&drive(0), &["`qemu.drives[0].size` is 0"]);
    assert_error(
        &drive(1000),
        &["`qemu.drives[0].size` = 1000: a disk is whole 512-byte sectors; use 512 or 1024"],
    );
    assert_error(&drive(100), &["sectors; use 512"]);
    assert!(parse(&drive(1 << 20)).is_ok());
}

/// A virtio device QEMU would put on PCI is one the bus never sees: the
/// disk's driver booted with "no device" (a tester's finding).
#[test]
fn a_drive_on_pci_is_refused() {
    let drive = |device: &str| {
        format!("{BASE}\n[[qemu.drives]]\nfile = \"x.img\"\nsize = 512\ndevice = \"{device}\"\n")
    };
    assert_error(
        &drive("virtio-blk-pci"),
        &["`qemu.drives[0].device` = \"virtio-blk-pci\": the bus sees virtio-mmio devices only; use \"virtio-blk-device\""],
    );
    assert_error(&drive("virtio-blk"), &["use \"virtio-blk-device\""]);
    assert!(parse(&drive("virtio-blk-device")).is_ok());
    assert!(parse(&drive("virtio-blk-device,serial=disk0")).is_ok());
    assert_error(
        &drive("virtio-blk-pci,serial=disk0"),
        &["use \"virtio-blk-device\""],
    );
}

#[test]
fn no_task_is_called_kernel() {
    let text = format!("{BASE}\n[tasks.kernel]\ncrate = \"task-idle\"\npriority = 9\ntext = 4096\nram = 1024\nstack = 512\n");
    assert_error(&text, &["`tasks.kernel`: 'kernel' is the kernel's name"]);
}
