//! Validation of an app file: every problem found, each naming the file,
//! the key and what to do about it (tasks, regions, IRQs, the supervisor,
//! QEMU, NICs and `[test]`). What an app file may grant is checked in
//! `authority`.

use super::*;

/// The longest image name accepted (it names `target/<name>/` and the
/// files in it).
const MAX_IMAGE_NAME: usize = 64;

/// virtio-blk's sector (§5.2.4: capacity counts 512-byte sectors).
const SECTOR: u64 = 512;

/// What xtask keeps in `target/<name>/` beside the disks: the built
/// programs and image (`dist/`), link scripts (`link/`), post-mortem dumps
/// (`dumps/`), the kernel's configuration, the run lock and gdb's files.
const BUILD_FILES: &[&str] = &[
    "dist",
    "link",
    "dumps",
    "kconfig.rs",
    "run.lock",
    "gdb-init",
    "gdb.sock",
];

/// The longest `[test] timeout` and step `timeout`, in seconds: the runner
/// adds them to the clock, and `timeout = 18446744073709551615` panicked
/// xtask with "overflow when adding duration to instant" once the image
/// was built. (A campaign run raises an image's to at most 2060 s.)
const MAX_TEST_TIMEOUT_S: u64 = 86_400;

/// The tables `sys/userlib/build.rs` generates into `userlib::tasks` beside
/// the task constants: a task whose constant is one of them failed in
/// rustc ("the name `SERVES` is defined multiple times"), naming neither
/// the file nor the task. A test holds this list to that build script.
pub(crate) const USERLIB_TABLES: &[&str] = &["RESTART", "AUTHORITY", "SERVES"];

impl App {
    /// Every problem with the file, in file order.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.check_name(&mut p);
        self.check_kernel(&mut p);
        if self.tasks.is_empty() {
            p.push("no tasks: add at least one `[tasks.<name>]` table (and an idle task)".into());
        }
        // The supervisor keeps each task's faults, watchdog and calls in
        // tables of this many: a task beyond them was restarted at every
        // fault whatever its policy.
        if self.tasks.len() > supervisor_core::MAX_TASKS {
            p.push(format!(
                "{} tasks: an image has at most {} (the supervisor tracks each task's faults and restart policy in a table of that many); merge or drop {}",
                self.tasks.len(),
                supervisor_core::MAX_TASKS,
                self.tasks.len() - supervisor_core::MAX_TASKS
            ));
        }
        // The bus registers this many drivers at once, and a driver that
        // waits for a device stays registered: with more, the last to
        // register was refused with `TooManyDrivers` for good (a hostile
        // driver starting first took a real one's place).
        let drivers = self.tasks.iter().filter(|t| t.is_driver()).count();
        if drivers > virtio_bus::MAX_DRIVERS {
            p.push(format!(
                "{drivers} tasks have `drives`: the bus registers at most {} drivers (one waiting for its device stays registered), and the last to register would never get one; drop {}",
                virtio_bus::MAX_DRIVERS,
                drivers - virtio_bus::MAX_DRIVERS
            ));
        }
        for task in &self.tasks {
            self.check_task(task, &mut p);
        }
        self.check_supervisor(&mut p);
        self.check_task_constants(&mut p);
        self.check_irqs(&mut p);
        self.check_authority(&mut p);
        self.check_shares(&mut p);
        self.check_qemu(&mut p);
        self.check_nics(&mut p);
        self.check_virtio_slots(&mut p);
        super::task_config::check_port_grants(self, &mut p);
        self.check_test(&mut p);
        p
    }

    pub(super) fn check_name(&self, p: &mut Vec<String>) {
        if self.name.len() > MAX_IMAGE_NAME {
            // A 301-byte name failed later, in the middle of the build, with
            // "File name too long (os error 36)".
            p.push(format!(
                "`name` is {} bytes long: the image name becomes a directory and file names under target/, so it is at most {MAX_IMAGE_NAME} bytes; shorten it",
                self.name.len()
            ));
        }
        if !is_identifier(&self.name) {
            p.push(format!(
                "`name` = {:?}: the image name becomes a directory under target/; use letters, digits, '-' and '_', starting with a letter",
                self.name
            ));
        }
        // Directories of target/ that are cargo's or xtask's own: an image
        // named so was built into them.
        const TAKEN: [&str; 7] = [
            "release",
            "debug",
            "doc",
            "tmp",
            "campaign",
            "mutants",
            "riscv32imac-unknown-none-elf",
        ];
        if TAKEN.contains(&self.name.as_str()) {
            p.push(format!(
                "`name` = {:?}: target/{} is cargo's or xtask's own directory; give the image another name",
                self.name, self.name
            ));
        }
    }

    pub(super) fn check_kernel(&self, p: &mut Vec<String>) {
        let k = &self.kernel;
        check_pow2(p, "kernel.text", k.text, 1);
        check_pow2(p, "kernel.ram", k.ram, 1);
        check_stack(p, "kernel", k.stack, k.ram);
        if k.stack < MIN_KERNEL_STACK {
            p.push(format!(
                "`kernel.stack` = {}: below {MIN_KERNEL_STACK} bytes, the smallest the kernel is tested with (every trap, and its panic report, runs on it; with 16 bytes it hung at boot without a word); raise it",
                k.stack
            ));
        }
        for (what, size) in [("text", k.text), ("ram", k.ram)] {
            check_fits(p, &format!("kernel.{what}"), size);
        }
    }

    pub(super) fn check_task(&self, task: &Task, p: &mut Vec<String>) {
        for (k, v) in &task.config {
            if k.is_empty() || k.contains(['=', ';']) || v.contains(';') {
                p.push(format!(
                    "`tasks.{}.config.{k}` = {v:?}: keys may not be empty or hold '=' or ';', values may not hold ';'",
                    task.name
                ));
            }
        }
        super::task_config::check(task, p);
        let key = format!("tasks.{}", task.name);
        if !is_identifier(&task.name) {
            p.push(format!(
                "`{key}`: task names are used as file and constant names; use letters, digits, '-' and '_', starting with a letter"
            ));
        }
        // Every status record, the supervisor's log and the shell's
        // `tasks` carry the first 16 bytes: two longer names alike in
        // those looked the same (a user's 51-byte name showed as
        // `idle_task_with_a`).
        let shown = std::mem::size_of_val(&abi::TaskStatus::default().name);
        if task.name.len() > shown {
            p.push(format!(
                "`{key}`: a task name is at most {shown} bytes (status records, the supervisor's log and the shell show {shown}); shorten it"
            ));
        }
        if task.name == "kernel" {
            // The console's `kernel:` lines are the kernel's own (a task's
            // are prefixed with its name), and the memory map's row too.
            p.push(format!(
                "`{key}`: 'kernel' is the kernel's name on the console and in the memory map; give the task another"
            ));
        }
        if task.name == "image" {
            // Each task's ELF is `dist/<task>.elf`, beside the image's
            // own `dist/image.elf`: the image overwrote the task's, and
            // `cargo xtask dump` and `gdb` read the image as the task.
            p.push(format!(
                "`{key}`: 'image' would be built as dist/image.elf, which is the whole image's file; give the task another name"
            ));
        }
        if task.krate.is_empty() {
            p.push(format!("`{key}.crate` is empty: name the task's package"));
        }
        check_pow2(
            p,
            &format!("{key}.text"),
            task.text,
            machine::MIN_TASK_REGION,
        );
        check_pow2(p, &format!("{key}.ram"), task.ram, machine::MIN_TASK_REGION);
        check_fits(p, &format!("{key}.text"), task.text);
        check_fits(p, &format!("{key}.ram"), task.ram);
        for (what, size) in [("text", task.text), ("ram", task.ram)] {
            if size < machine::MIN_TASK_REGION {
                p.push(format!(
                    "`{key}.{what}` = {size} is below the smallest task region ({} bytes); raise it",
                    machine::MIN_TASK_REGION
                ));
            }
        }
        check_stack(p, &key, task.stack, task.ram);

        // Slots: known, not duplicated, and only uphill in importance.
        for target in self.named_tasks(&format!("{key}.slots"), &task.slots, p) {
            if target.name == task.name {
                // No priority could allow it: the caller would wait for
                // its own reply.
                p.push(format!(
                    "`{key}.slots`: task '{}' names itself; a task cannot call itself (it would wait for ever for its own reply), remove '{}' from the slots",
                    task.name, task.name
                ));
            } else if target.priority >= task.priority {
                // The caller's number is the one to raise when it can be:
                // a client is less important than what it calls.
                let raise = match target.priority {
                    u8::MAX => String::new(),
                    n => format!("give '{}' a priority number above {n}, or ", task.name),
                };
                let lower = match task.priority {
                    0 => String::new(),
                    n => format!("give '{}' one below {n}, or ", target.name),
                };
                p.push(format!(
                    "`{key}.slots`: task '{}' (priority {}) may not send to '{}' (priority {}): IPC only flows to more important tasks (smaller numbers); {raise}{lower}remove '{}' from the slots",
                    task.name, task.priority, target.name, target.priority, target.name
                ));
            }
        }

        // Notifications and interrupts.
        if task.notifications.len() > machine::MAX_NOTIFICATIONS {
            p.push(format!(
                "`{key}.notifications` has {} names but a task has {} notification bits; remove some",
                task.notifications.len(),
                machine::MAX_NOTIFICATIONS
            ));
        }
        for (i, n) in task.notifications.iter().enumerate() {
            if n.is_empty() {
                p.push(format!("`{key}.notifications`: entry {i} is an empty name"));
            } else if task.notifications[..i].contains(n) {
                p.push(format!(
                    "`{key}.notifications` names '{n}' twice; each name is one bit, list it once"
                ));
            }
        }
        for (note, &irq) in &task.interrupts {
            if !task.notifications.contains(note) {
                p.push(format!(
                    "`{key}.interrupts.{note}`: '{note}' is not one of `{key}.notifications` ({}); add it there (its position is its bit)",
                    if task.notifications.is_empty() { "none declared".to_string() } else { task.notifications.join(", ") }
                ));
            }
            if !(1..=machine::MAX_IRQ).contains(&irq) {
                p.push(format!(
                    "`{key}.interrupts.{note}` = {irq}: PLIC sources are numbered 1 to {}",
                    machine::MAX_IRQ
                ));
            }
        }

        // Device windows and the PMP budget.
        for (i, u) in task.uses.iter().enumerate() {
            if machine::device_window(u).is_none() {
                p.push(format!(
                    "`{key}.uses`: no device window named '{u}'; the windows are: {}",
                    machine::device_window_names()
                ));
            } else if task.uses[..i].contains(u) {
                p.push(format!("`{key}.uses` names '{u}' twice; list it once"));
            } else if u.starts_with("virtio") && !task.supervisor {
                // A static window has no holes: its queue and feature
                // registers would be the task's, and with them the device's
                // DMA (a red team's task wrote QueuePFN by hand and read
                // kernel text through the disk).
                p.push(format!(
                    "`{key}.uses`: '{u}' is a virtio-mmio window, which only the supervisor (the bus) may hold whole; a driver gets its slot's window from the bus (`drives`), with the queue and feature registers kept by the kernel"
                ));
            }
        }
        match task.queues {
            Some(_) if !task.is_driver() => p.push(format!(
                "`{key}.queues`: only a driver (`drives`) has virtqueues; remove the key"
            )),
            Some(0) => p.push(format!(
                "`{key}.queues` = 0: a driver's device needs at least one virtqueue (the kernel places each in the ring region); use 1 or more, or remove the key for 1"
            )),
            Some(q) if q > MAX_QUEUES => p.push(format!(
                "`{key}.queues` = {q}: at most {MAX_QUEUES} virtqueues per driver; use fewer"
            )),
            _ => {}
        }
        // PMP entries (16 on QEMU's virt: 8 for the running task, the rest
        // the kernel's): text, RAM, each `uses` window, and for a driver its
        // ring region and the window the bus grants it, with the holes that
        // keep the queue registers the kernel's.
        let ring = usize::from(task.ring_bytes().is_some());
        let granted = if task.is_driver() {
            GRANTED_WINDOW_ENTRIES
        } else {
            0
        };
        let entries = 2 + task.uses.len() + ring + granted;
        if entries > machine::MAX_TASK_REGIONS {
            p.push(format!(
                "`{key}.uses`: task '{}' would need {entries} PMP entries (text, ram, {} device windows{}) but a task may have at most {}; drop {} of its `uses`",
                task.name,
                task.uses.len(),
                if task.is_driver() {
                    format!(
                        ", its ring region and {GRANTED_WINDOW_ENTRIES} for the window the bus grants it"
                    )
                } else {
                    String::new()
                },
                machine::MAX_TASK_REGIONS,
                entries - machine::MAX_TASK_REGIONS
            ));
        }

        for (i, f) in task.features.iter().enumerate() {
            if f.is_empty() || f.contains(',') || f.contains(char::is_whitespace) {
                p.push(format!(
                    "`{key}.features`: entry {i} ({f:?}) is not a cargo feature name"
                ));
            }
        }

        self.check_restart(task, &key, p);
        self.check_trust(task, &key, p);
    }

    pub(super) fn check_restart(&self, task: &Task, key: &str, p: &mut Vec<String>) {
        let r = &task.restart;
        if r.backoff_ms.is_some() && r.policy != RestartPolicy::Backoff {
            p.push(format!(
                "`{key}.restart.backoff-ms` only applies to policy \"backoff\"; remove it or set `policy = \"backoff\"`"
            ));
        }
        if r.policy == RestartPolicy::Backoff && r.backoff_ms == Some(0) {
            p.push(format!(
                "`{key}.restart.backoff-ms` = 0: a backoff needs a delay of at least 1 ms"
            ));
        }
        if r.policy == RestartPolicy::Never && (r.limit.is_some() || r.window_ms.is_some()) {
            p.push(format!(
                "`{key}.restart`: `limit` and `window-ms` mean nothing with policy \"never\"; remove them"
            ));
        }
        if r.window_ms.is_some() && r.limit.is_none() {
            p.push(format!(
                "`{key}.restart.window-ms` needs `limit` (how many restarts within the window)"
            ));
        }
        if r.limit == Some(0) {
            // 0 is "no limit" to the supervisor, the opposite of what it
            // reads as.
            p.push(format!(
                "`{key}.restart.limit` = 0: remove `limit` for no limit, or use 1 to {}",
                abi::RestartPolicy::MAX_LIMIT
            ));
        }
        if let Some(limit) = r.limit.filter(|&l| l > abi::RestartPolicy::MAX_LIMIT) {
            p.push(format!(
                "`{key}.restart.limit` = {limit}: the supervisor counts at most {} faults within a window; \
                 use a limit of 1 to {0} (or remove it for no limit)",
                abi::RestartPolicy::MAX_LIMIT
            ));
        }
        if r.window_ms == Some(0) {
            p.push(format!(
                "`{key}.restart.window-ms` = 0: use a window of at least 1 ms"
            ));
        }
    }

    pub(super) fn check_supervisor(&self, p: &mut Vec<String>) {
        let sups: Vec<&str> = self
            .tasks
            .iter()
            .filter(|t| t.supervisor)
            .map(|t| t.name.as_str())
            .collect();
        if let Some(t) = self.tasks.iter().find(|t| t.supervisor && !t.start) {
            p.push(format!(
                "`tasks.{}.start` = false: the supervisor must start at boot (every driver registers with it and nobody else can start it); remove the key",
                t.name
            ));
        }
        match sups.len() {
            1 => self.check_supervisor_first(p),
            0 => p.push(
                "no task has `supervisor = true`: mark exactly one task (the one that handles faults and may use kipc) as the supervisor".into(),
            ),
            _ => p.push(format!(
                "tasks {} all have `supervisor = true`: exactly one task may be the supervisor; remove the flag from all but one",
                sups.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// The supervisor must be more important than every other task: it
    /// restarts the others, so one of its priority or above that runs
    /// without blocking would keep it off the CPU for good (a turn among
    /// equals ends only when a task blocks), and with it every restart.
    /// A user's task at priority 0 beside it was accepted before.
    fn check_supervisor_first(&self, p: &mut Vec<String>) {
        let Some(sup) = self.tasks.iter().find(|t| t.supervisor) else {
            return;
        };
        for task in self
            .tasks
            .iter()
            .filter(|t| !t.supervisor && t.priority <= sup.priority)
        {
            p.push(format!(
                "`tasks.{}.priority` = {}: only the supervisor ('{}', priority {}) may be that important (it must be able to run to restart a faulted task); give '{}' a priority number above {}",
                task.name,
                task.priority,
                sup.name,
                sup.priority,
                task.name,
                sup.priority
            ));
        }
    }

    /// Each task's name becomes a constant of `userlib::tasks` (upper
    /// case, other characters '_'): two names that make one constant
    /// failed in rustc, naming neither the file nor the tasks.
    pub(super) fn check_task_constants(&self, p: &mut Vec<String>) {
        let constant = |name: &str| -> String {
            name.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        for (i, t) in self.tasks.iter().enumerate() {
            let c = constant(&t.name);
            if USERLIB_TABLES.contains(&c.as_str()) {
                p.push(format!(
                    "`tasks.{}`: its task constant `{c}` is taken by userlib's table of that name (`userlib::tasks::{c}`: {}); rename the task",
                    t.name,
                    USERLIB_TABLES.join(", ")
                ));
            }
            if let Some(other) = self.tasks[..i].iter().find(|o| constant(&o.name) == c) {
                p.push(format!(
                    "`tasks.{}` and `tasks.{}` would both be the task constant `{c}` (names are upper-cased, '-' becomes '_'); rename one",
                    other.name, t.name
                ));
            }
        }
    }

    pub(super) fn check_irqs(&self, p: &mut Vec<String>) {
        let mut seen: Vec<(u32, &str, &str)> = Vec::new();
        for task in &self.tasks {
            for (note, &irq) in &task.interrupts {
                if let Some((_, other, other_note)) = seen.iter().find(|(i, _, _)| *i == irq) {
                    p.push(format!(
                        "`tasks.{}.interrupts.{note}`: IRQ {irq} is claimed by both task '{other}' (notification '{other_note}') and task '{}' (notification '{note}'); an interrupt goes to exactly one task, remove one of them",
                        task.name, task.name
                    ));
                } else {
                    seen.push((irq, &task.name, note));
                }
            }
        }
    }

    pub(super) fn check_qemu(&self, p: &mut Vec<String>) {
        let q = &self.qemu;
        if q.memory == 0 || q.memory > machine::MAX_MEMORY_MIB {
            p.push(format!(
                "`qemu.memory` = {}: RAM starts at 0x8000_0000 in a 32-bit address space, so use 1 to {} (MiB)",
                q.memory,
                machine::MAX_MEMORY_MIB
            ));
        }
        for (i, d) in q.drives.iter().enumerate() {
            let key = format!("qemu.drives[{i}]");
            let path = Path::new(&d.file);
            if d.file.is_empty()
                || path.is_absolute()
                || path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                p.push(format!(
                    "`{key}.file` = {:?}: give a plain path relative to target/{}/ (no '..', not absolute)",
                    d.file, self.name
                ));
            }
            let first = path.components().find_map(|c| match c {
                std::path::Component::Normal(n) => Some(n.to_string_lossy()),
                _ => None,
            });
            if let Some(taken) = first.filter(|f| BUILD_FILES.contains(&f.as_ref())) {
                // The disk file is created (a test run: made afresh) in
                // the folder xtask builds the image in: `dist/image.elf`
                // as a disk was zeroed and QEMU booted nothing.
                p.push(format!(
                    "`{key}.file` = {:?}: target/{}/{taken} is xtask's own ({}); put the disk elsewhere, e.g. \"disk0.img\"",
                    d.file,
                    self.name,
                    BUILD_FILES.join(", ")
                ));
            }
            if d.size == 0 {
                p.push(format!("`{key}.size` is 0: give the disk size in bytes"));
            } else if d.size % SECTOR != 0 {
                // QEMU would round the file up to whole sectors: the disk
                // the image sees would not be the size asked for.
                // (`size / SECTOR + 1` cannot overflow; the product can,
                // for a size within a sector of u64::MAX.)
                let up = (d.size / SECTOR + 1).saturating_mul(SECTOR);
                let down = d.size / SECTOR * SECTOR;
                p.push(if down == 0 {
                    format!(
                        "`{key}.size` = {}: a disk is whole {SECTOR}-byte sectors; use {up}",
                        d.size
                    )
                } else {
                    format!(
                        "`{key}.size` = {}: a disk is whole {SECTOR}-byte sectors; use {down} or {up}",
                        d.size
                    )
                });
            }
            if d.device.is_empty() {
                p.push(format!(
                    "`{key}.device` is empty: name the QEMU device, e.g. \"virtio-blk-device\""
                ));
            } else if let Some(kind) = d
                .device
                .split(',')
                .next()
                .and_then(|name| name.strip_prefix("virtio-"))
                .filter(|rest| !rest.ends_with("-device"))
            {
                // QEMU puts it on PCI (or CCW), which the bus (virtio-mmio
                // slots) never sees: blk0 booted with "no device".
                let base = kind.split_once('-').map_or(kind, |(b, _)| b);
                p.push(format!(
                    "`{key}.device` = {:?}: the bus sees virtio-mmio devices only; use \"virtio-{base}-device\"",
                    d.device
                ));
            }
            if let Some(j) = q.drives[..i].iter().position(|e| e.file == d.file) {
                // QEMU locks each file: the second drive failed with
                // "Is another process using the image?".
                p.push(format!(
                    "`{key}.file` = {:?} is `qemu.drives[{j}]`'s file too: each disk needs its own file",
                    d.file
                ));
            }
        }
    }

    /// The virt machine has `VIRTIO_SLOTS` virtio-mmio slots: each drive,
    /// NIC and `-device virtio-*-device` of `qemu.args` takes one. One more
    /// built, and QEMU stopped at boot with "No 'virtio-bus' bus found for
    /// device", naming neither the limit nor the app file.
    pub(super) fn check_virtio_slots(&self, p: &mut Vec<String>) {
        let q = &self.qemu;
        let in_args = q
            .args
            .windows(2)
            .filter(|w| w[0] == "-device")
            .filter(|w| {
                let name = w[1].split(',').next().unwrap_or("");
                name.starts_with("virtio-") && name.ends_with("-device")
            })
            .count();
        let total = in_args + q.drives.len() + q.nics.len();
        let slots = machine::VIRTIO_SLOTS as usize;
        if total > slots {
            p.push(format!(
                "`qemu`: {total} virtio devices ({in_args} in `qemu.args`, {} `qemu.drives`, {} `qemu.nics`) but the virt machine has {slots} virtio-mmio slots (QEMU stops with \"No 'virtio-bus' bus found\"); remove {}",
                q.drives.len(),
                q.nics.len(),
                total - slots
            ));
        }
    }

    pub(super) fn check_nics(&self, p: &mut Vec<String>) {
        for (i, nic) in self.qemu.nics.iter().enumerate() {
            if nic.wire && !nic.forwards.is_empty() {
                p.push(format!(
                    "`qemu.nics[{i}]` is a `wire` and has forwards: a wire has no user network to forward from"
                ));
            }
            for (j, f) in nic.forwards.iter().enumerate() {
                let key = format!("qemu.nics[{i}].forwards[{j}]");
                if f.proto != "tcp" && f.proto != "udp" {
                    p.push(format!(
                        "`{key}.proto` = {:?}: QEMU forwards \"tcp\" or \"udp\"",
                        f.proto
                    ));
                }
                if f.guest == 0 {
                    p.push(format!("`{key}.guest` is 0: give the port in the image"));
                }
                // (0 picks a free port at run time: never a clash.)
                let mut earlier = self.qemu.nics[..=i].iter().enumerate().flat_map(|(a, n)| {
                    let upto = if a == i { j } else { n.forwards.len() };
                    n.forwards[..upto].iter().map(move |g| (a, g))
                });
                if f.host != 0 {
                    if let Some((a, _)) =
                        earlier.find(|(_, g)| g.host == f.host && g.proto == f.proto)
                    {
                        p.push(format!(
                            "`{key}.host` = {}: `qemu.nics[{a}]` already forwards {} port {} of the host; use another (or leave `host` out for a free one)",
                            f.host, f.proto, f.host
                        ));
                    }
                }
            }
        }
    }

    pub(super) fn check_test(&self, p: &mut Vec<String>) {
        let Some(t) = &self.test else { return };
        if t.timeout == 0 {
            p.push("`test.timeout` is 0: give the wall-clock limit in seconds".into());
        } else if t.timeout > MAX_TEST_TIMEOUT_S {
            p.push(format!(
                "`test.timeout` = {}: at most {MAX_TEST_TIMEOUT_S} s (a day)",
                t.timeout
            ));
        }
        if t.kernel_panic.as_deref() == Some("") {
            p.push("`test.kernel-panic` is empty and would match any panic: give the text the panic must contain".into());
        }
        if t.supervisor_fault.as_deref() == Some("") {
            p.push("`test.supervisor-fault` is empty and would match any supervisor fault: give the text its line must contain".into());
        }
        for (i, e) in t.expect.iter().enumerate() {
            if e.is_empty() {
                p.push(format!(
                    "`test.expect`: entry {i} is empty and would match anything"
                ));
            }
        }
        if t.kind == TestKind::Net {
            if t.net.is_empty() {
                p.push(format!(
                    "`test.kind` = \"net\" but `test.net` names no checks: list some of {:?}",
                    crate::nettest::CHECKS
                ));
            }
            for c in &t.net {
                if !crate::nettest::CHECKS.contains(&c.as_str()) {
                    p.push(format!(
                        "`test.net` names `{c}`, which is no check: use {:?}",
                        crate::nettest::CHECKS
                    ));
                }
            }
            if self.qemu.nics.is_empty() {
                p.push("`test.kind` = \"net\" but the image has no `[[qemu.nics]]`".into());
            }
        } else if !t.net.is_empty() {
            p.push("`test.net` is only for net tests: add `kind = \"net\"` to [test]".into());
        }
        if t.kind != TestKind::Console {
            if !t.steps.is_empty() {
                p.push(
                    "`test.steps` is only for console tests: add `kind = \"console\"` to [test] or remove the steps".into(),
                );
            }
            return;
        }
        if t.prompt.is_empty() {
            p.push("`test.prompt` is empty: give the text the shell prints when it is ready, e.g. \"vireo> \"".into());
        }
        if t.steps.is_empty() {
            p.push("`test.kind` = \"console\" but there are no steps: add `[[test.steps]]` tables with `send` and `expect`".into());
        }
        for (i, step) in t.steps.iter().enumerate() {
            let key = format!("`test.steps[{i}]`");
            if step.send.is_none() && step.expect.is_none() {
                p.push(format!(
                    "{key} has neither `send` nor `expect`: give at least one"
                ));
            }
            if step
                .send
                .as_deref()
                .is_some_and(|s| s.contains(['\n', '\r']))
            {
                p.push(format!("{key}.send contains a line break: give one line per step (xtask adds the newline)"));
            }
            if step.expect.as_deref() == Some("") {
                p.push(format!("{key}.expect is empty and would match anything"));
            }
            if step.echo.is_some() && step.send.is_none() {
                p.push(format!(
                    "{key} has `echo` but no `send`: `echo` is what the console shows of the line sent"
                ));
            }
            if step.timeout == Some(0) {
                p.push(format!(
                    "{key}.timeout is 0: give the step's limit in seconds"
                ));
            }
            if let Some(s) = step.timeout.filter(|&s| s > MAX_TEST_TIMEOUT_S) {
                p.push(format!(
                    "{key}.timeout = {s}: at most {MAX_TEST_TIMEOUT_S} s (a day)"
                ));
            }
        }
    }

    /// The tasks a list of task names (`slots`, `posts`) names, each once;
    /// a name given twice or naming no task is reported under `list_key`.
    pub(super) fn named_tasks<'a>(
        &'a self,
        list_key: &str,
        names: &[String],
        p: &mut Vec<String>,
    ) -> Vec<&'a Task> {
        let mut found = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                p.push(format!(
                    "`{list_key}` names '{name}' twice; list each task once"
                ));
                continue;
            }
            match self.tasks.iter().find(|t| &t.name == name) {
                Some(t) => found.push(t),
                None => p.push(format!(
                    "`{list_key}`: there is no task named '{name}'; the tasks are: {}",
                    self.task_names()
                )),
            }
        }
        found
    }

    pub(super) fn task_names(&self) -> String {
        self.tasks
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(super) fn class_names() -> String {
    virtio::class::CLASSES
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The line (1-based) of the app file a problem is about, when it names a
/// task key: "`tasks.<task>.<key>...`" finds `<key> =` inside the task's
/// table, or the `[tasks.<task>]` header itself.
pub(super) fn line_of_problem(text: &str, problem: &str) -> Option<usize> {
    let quoted = problem.strip_prefix('`')?;
    let path = &quoted[..quoted.find('`')?];
    let mut parts = path.split('.');
    if parts.next()? != "tasks" {
        return None;
    }
    let task = parts.next()?;
    let key = parts.next();
    line_of_task_key(text, task, key)
}

/// The line of `key = ...` in the `[tasks.<task>]` table, or of the table
/// header if `key` is `None` or not written there.
pub(super) fn line_of_task_key(text: &str, task: &str, key: Option<&str>) -> Option<usize> {
    let header = |l: &str| {
        let l = l.trim();
        let inner = l.strip_prefix('[')?.split(']').next()?.trim();
        Some(inner.to_string())
    };
    let mut lines = text.lines().enumerate();
    let want = [format!("tasks.{task}"), format!("tasks.\"{task}\"")];
    let (start, _) = lines.find(|(_, l)| header(l).is_some_and(|h| want.contains(&h)))?;
    if let Some(key) = key {
        for (i, l) in text.lines().enumerate().skip(start + 1) {
            if header(l).is_some() && l.trim_start().starts_with('[') {
                break;
            }
            let l = l.trim_start();
            if let Some(rest) = l.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return Some(i + 1);
                }
            }
        }
    }
    Some(start + 1)
}

/// Names that are safe as directory names, in `VIREO_TASKS` and as the
/// basis of Rust constants.
pub(super) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `size` must be a power of two no smaller than `min` (itself one): the
/// hint for a size below `min` is `min`.
pub(super) fn check_pow2(p: &mut Vec<String>, key: &str, size: u64, min: u64) {
    if !size.is_power_of_two() && size < min {
        p.push(format!(
            "`{key}` = {size} is not a power of two (one PMP entry covers a power-of-two region aligned to its size); use {min}, the smallest"
        ));
    } else if !size.is_power_of_two() {
        let below = if size < 2 {
            1
        } else {
            1u64 << (63 - size.leading_zeros())
        };
        p.push(format!(
            "`{key}` = {size} is not a power of two (one PMP entry covers a power-of-two region aligned to its size); use {} or {}",
            below,
            below.saturating_mul(2)
        ));
    }
}

/// The power of two above `x` (twice the next one up), as a size to
/// suggest; `u64::MAX` for an `x` so large there is none.
fn power_of_two_above(x: u64) -> u64 {
    x.max(1)
        .checked_next_power_of_two()
        .map_or(u64::MAX, |p| p.saturating_mul(2))
}

/// The smallest kernel stack accepted: the one every image is tested with.
const MIN_KERNEL_STACK: u64 = 4096;

/// A region no larger than the most RAM QEMU's `virt` takes
/// ([`machine::MAX_MEMORY_MIB`]): a larger one could never be placed, and
/// sizes near 2^64 overflowed the layout's sums.
fn check_fits(p: &mut Vec<String>, key: &str, size: u64) {
    let max = machine::MAX_MEMORY_MIB << 20;
    if size > max {
        p.push(format!(
            "`{key}` = {size} is larger than the machine's RAM can be ({max} bytes, `qemu.memory` at most {} MiB); lower it",
            machine::MAX_MEMORY_MIB
        ));
    }
}

pub(super) fn check_stack(p: &mut Vec<String>, key: &str, stack: u64, ram: u64) {
    if stack == 0 || !stack.is_multiple_of(16) {
        p.push(format!(
            "`{key}.stack` = {stack}: the stack must be a non-zero multiple of 16 bytes (the RISC-V ABI aligns sp to 16)"
        ));
    }
    if stack >= ram {
        p.push(format!(
            "`{key}.stack` = {stack} must be smaller than `{key}.ram` = {ram} (the stack shares the RAM region with data and bss); lower the stack or raise ram to {}",
            power_of_two_above(ram).max(power_of_two_above(stack))
        ));
    }
}
