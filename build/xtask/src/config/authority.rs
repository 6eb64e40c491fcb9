//! What an app file may grant, checked: trust and CPU budgets of drivers,
//! the authority rights (`operator`, `observer`, `drives`) and who may post
//! which notification to whom.

use super::check::*;
use super::*;

impl App {
    pub(super) fn check_trust(&self, task: &Task, key: &str, p: &mut Vec<String>) {
        if task.supervisor {
            if task.is_driver() {
                p.push(format!(
                    "`{key}.drives`: the supervisor is trusted by every task and cannot be a driver; remove the key"
                ));
            }
            if task.trusted == Some(false) {
                p.push(format!(
                    "`{key}.trusted` = false: the supervisor is trusted by definition; remove the key"
                ));
            }
            if task.budget_ms.is_some() {
                p.push(format!(
                    "`{key}.budget-ms`: the supervisor cannot have a CPU budget (a fault of the supervisor reboots the machine); remove the key"
                ));
            }
        }
        match task.deadline_ms {
            Some(_) if !task.is_driver() => p.push(format!(
                "`{key}.deadline-ms` only applies to drivers (the request deadline of a device); declare the classes it `drives` or remove it"
            )),
            Some(ms) if ms == 0 || ms > MAX_DEADLINE_MS => p.push(format!(
                "`{key}.deadline-ms` = {ms}: use 1 to {MAX_DEADLINE_MS} ms (the supervisor restarts a driver whose callers wait 1.5 s without a reply, and the driver must fail a wedged device itself first)"
            )),
            _ => {}
        }
        match task.budget_ms {
            Some(0) => p.push(format!(
                "`{key}.budget-ms` = 0: a task must be allowed to run; give at least 1 ms, or remove the key{}",
                if task.is_driver() {
                    format!(" for the drivers' default of {DEFAULT_DRIVER_BUDGET_MS} ms")
                } else {
                    " for no limit".to_string()
                }
            )),
            Some(ms) if ms > MAX_BUDGET_MS => p.push(format!(
                "`{key}.budget-ms` = {ms} is above the largest budget, {MAX_BUDGET_MS} ms; use a smaller one{}",
                if task.is_driver() { "" } else { ", or remove the key for no limit" }
            )),
            _ => {}
        }
    }

    /// CPU shares: each between 1 and [`BUDGETED_SHARE_PERCENT`], only on
    /// tasks with a budget, and together at most that, with at least 1 %
    /// left for each task with a budget and no `cpu-share`.
    pub(super) fn check_shares(&self, p: &mut Vec<String>) {
        for task in &self.tasks {
            let key = format!("tasks.{}", task.name);
            match task.cpu_share {
                None => {}
                Some(_) if task.supervisor => p.push(format!(
                    "`{key}.cpu-share`: the supervisor has no CPU budget and is held to no share; remove the key"
                )),
                Some(_) if task.budget().is_none() => p.push(format!(
                    "`{key}.cpu-share`: only a task with a CPU budget is held to a share (the kernel measures a share as it charges the budget); add `budget-ms` or remove the key"
                )),
                Some(share) if share == 0 || share > BUDGETED_SHARE_PERCENT => p.push(format!(
                    "`{key}.cpu-share` = {share}: give a percentage from 1 to {BUDGETED_SHARE_PERCENT} (the tasks with a budget share at most {BUDGETED_SHARE_PERCENT} % of the CPU, so that the others always get the rest)"
                )),
                Some(_) => {}
            }
        }
        let (explicit, defaults) = self.budgeted_shares();
        let named = || {
            let shares: Vec<String> = self
                .tasks
                .iter()
                .filter(|t| t.budget().is_some())
                .filter_map(|t| t.cpu_share.map(|s| format!("{} {s}", t.name)))
                .collect();
            shares.join(", ")
        };
        if explicit > BUDGETED_SHARE_PERCENT {
            p.push(format!(
                "the `cpu-share`s of the tasks with a CPU budget add up to {explicit} % ({}): at most {BUDGETED_SHARE_PERCENT} % in all, so that the tasks without a budget always get the rest of the CPU; lower them",
                named()
            ));
        } else if defaults > BUDGETED_SHARE_PERCENT - explicit {
            let unset: Vec<&str> = self
                .tasks
                .iter()
                .filter(|t| t.budget().is_some() && t.cpu_share.is_none())
                .map(|t| t.name.as_str())
                .collect();
            p.push(format!(
                "{defaults} task(s) with a CPU budget and no `cpu-share` ({}) would split {} % of the CPU, less than 1 % each; lower the explicit shares ({}) or give these tasks a `cpu-share`",
                unset.join(", "),
                BUDGETED_SHARE_PERCENT - explicit,
                named()
            ));
        }
    }

    /// Authority: driver classes, operator rights, post grants and
    /// test-only features (see the README's "Authority" section).
    pub(super) fn check_authority(&self, p: &mut Vec<String>) {
        let test_image = self.test.is_some();
        for f in &self.kernel.features {
            if !test_image && TEST_ONLY_FEATURES.contains(&f.as_str()) {
                p.push(format!(
                    "`kernel.features`: '{f}' is for test images only (it lets tasks be faulted or the machine stopped on request); remove it, or add a [test] section if this is a test image"
                ));
            }
        }
        let any_driver = self.tasks.iter().any(|t| t.drives.is_some());
        for task in &self.tasks {
            let key = format!("tasks.{}", task.name);
            for f in &task.features {
                if !test_image && TEST_ONLY_FEATURES.contains(&f.as_str()) {
                    p.push(format!(
                        "`{key}.features`: '{f}' is for test images only; task '{}' must not get it in an image without a [test] section",
                        task.name
                    ));
                }
            }
            match &task.drives {
                Some(classes) if classes.is_empty() => p.push(format!(
                    "`{key}.drives` is empty: task '{}' is declared a driver of no class; name the classes it drives (one of: {}) or remove the key",
                    task.name,
                    class_names()
                )),
                Some(classes) => {
                    // A driver's first act is `register` with the bus, a
                    // call to the supervisor: without the slot it could
                    // never be bound (a user's server given `drives` was
                    // built without a word, as an untrusted driver).
                    if let Some(sup) = self.tasks.iter().find(|t| t.supervisor && !task.supervisor) {
                        if !task.slots.contains(&sup.name) {
                            p.push(format!(
                                "`{key}.drives`: task '{}' is declared a driver but cannot call '{}' (not in its `slots`), so it can never register with the bus for a device; add '{}' to `{key}.slots`, or remove `drives` if '{}' is not a driver",
                                task.name, sup.name, sup.name, task.name
                            ));
                        }
                    }
                    for (i, c) in classes.iter().enumerate() {
                        let id = device_id(c);
                        if id.is_none() {
                            p.push(format!(
                                "`{key}.drives`: task '{}' names unknown device class '{c}'; the classes are: {} (or a device id from 1 to 63)",
                                task.name,
                                class_names()
                            ));
                        } else if let Some(earlier) =
                            classes[..i].iter().find(|e| device_id(e) == id)
                        {
                            let same = if earlier == c {
                                String::new()
                            } else {
                                format!(" (as '{earlier}')")
                            };
                            p.push(format!(
                                "`{key}.drives` names '{c}' twice{same}; list each class once"
                            ));
                        }
                    }
                }
                None if task.krate.starts_with(DRIVER_CRATE_PREFIX) => p.push(format!(
                    "`{key}`: task '{}' runs driver crate '{}' but declares no class; add `drives = [\"<class>\"]` (one of: {}) so the bus lets it register",
                    task.name,
                    task.krate,
                    class_names()
                )),
                None => {}
            }
            if task.operator && task.drives.is_some() {
                p.push(format!(
                    "`{key}.operator`: task '{}' is a driver (`drives`); a driver may not hold operator rights (bind, unbind, restart, fault, status of other tasks); give them to the shell instead",
                    task.name
                ));
            }
            if task.observer && task.drives.is_some() {
                p.push(format!(
                    "`{key}.observer`: task '{}' is a driver (`drives`); a driver may not read other tasks' status; give the right to a service such as the status page instead",
                    task.name
                ));
            }
            if task.operator && task.supervisor {
                p.push(format!(
                    "`{key}.operator`: the supervisor does not call itself; remove the key"
                ));
            }
            if any_driver {
                for (note, &irq) in &task.interrupts {
                    if (1..=machine::VIRTIO_SLOTS).contains(&irq) {
                        p.push(format!(
                            "`{key}.interrupts.{note}` = {irq}: IRQ {irq} belongs to virtio-mmio slot {} and the bus grants it to whichever driver it binds there; task '{}' may not route it statically",
                            irq - 1,
                            task.name
                        ));
                    }
                }
            }
            self.check_posts(task, &key, p);
        }
    }

    pub(super) fn check_posts(&self, task: &Task, key: &str, p: &mut Vec<String>) {
        for (i, n) in task.postable.iter().enumerate() {
            if task.postable[..i].contains(n) {
                p.push(format!("`{key}.postable` names '{n}' twice; list it once"));
                continue;
            }
            let Some(bit) = task.notifications.iter().position(|m| m == n) else {
                p.push(format!(
                    "`{key}.postable`: '{n}' is not one of `{key}.notifications` ({}); add it there or remove it here",
                    if task.notifications.is_empty() { "none declared".to_string() } else { task.notifications.join(", ") }
                ));
                continue;
            };
            if task.interrupts.contains_key(n) {
                p.push(format!(
                    "`{key}.postable`: '{n}' is an interrupt's bit (`{key}.interrupts.{n}`); interrupt bits are the kernel's alone, so task '{}' cannot let others post it",
                    task.name
                ));
            }
            if task.supervisor && bit == 0 {
                p.push(format!(
                    "`{key}.postable`: '{n}' is bit 0, the supervisor's fault bit, which only the kernel posts; remove it"
                ));
            }
        }
        for t in self.named_tasks(&format!("{key}.posts"), &task.posts, p) {
            if t.name == task.name {
                p.push(format!(
                    "`{key}.posts`: task '{}' names itself; remove it",
                    task.name
                ));
            } else if t.supervisor {
                p.push(format!(
                    "`{key}.posts`: task '{}' may not post to the supervisor '{}': its only notification others could set would fake a fault; call it instead",
                    task.name, t.name
                ));
            } else if t.postable.is_empty() {
                p.push(format!(
                    "`{key}.posts`: task '{}' is granted posts to '{}', but '{}' declares no `postable` notification, so every post would be refused; add `postable = [...]` to `tasks.{}` or remove '{}' here",
                    task.name, t.name, t.name, t.name, t.name
                ));
            }
        }
    }
}
