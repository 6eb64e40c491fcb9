//! `idl/supervisor.idol`: task status, restarts and, in test images, fault
//! injection and shutdown, each checked against the caller's authority.

use super::*;

impl SupervisorServer for Supervisor {
    fn task_count(&mut self, _: TaskId) -> Served<u32> {
        Ok(kipc::task_count() as u32)
    }

    fn task_status(&mut self, caller: TaskId, index: u32) -> Served<TaskStatus, SupervisorError> {
        self.authorize(caller, Request::TaskStatus)
            .map_err(refusal)?;
        kipc::task_status(index as usize).map_err(|_| SupervisorError::NoSuchTask.into())
    }

    fn restart_record(
        &mut self,
        caller: TaskId,
        back: u32,
    ) -> Served<RestartRecord, SupervisorError> {
        self.authorize(caller, Request::RestartRecord)
            .map_err(refusal)?;
        self.log
            .get(back)
            .ok_or_else(|| SupervisorError::NoSuchRecord.into())
    }

    fn fault_task(&mut self, caller: TaskId, index: u32) -> Served<(), SupervisorError> {
        self.authorize(caller, Request::FaultTask)
            .map_err(refusal)?;
        if index as usize >= kipc::task_count() {
            return Err(SupervisorError::NoSuchTask.into());
        }
        // A task already down (waiting out its backoff, or left stopped)
        // has no incarnation to end: the kernel would record no fault, and
        // the caller was told it had made one.
        let state = kipc::task_status(index as usize)
            .ok()
            .and_then(|st| abi::TaskState::from_u32(st.state));
        if matches!(
            state,
            Some(abi::TaskState::Faulted | abi::TaskState::Stopped)
        ) {
            return Err(SupervisorError::NotRunning.into());
        }
        // The supervisor cannot fault itself (the kernel refuses), and a
        // task faulting its own caller chain is allowed: it is a test tool.
        kipc::fault_task(index as usize).map_err(|_| SupervisorError::NotAllowed)?;
        sys_log!(
            "faulting task {} at the request of {}",
            name_of(index as u16),
            name_of(caller.index() as u16)
        );
        Ok(())
    }

    fn inject(
        &mut self,
        caller: TaskId,
        index: u32,
        kind: u32,
        arg: u32,
    ) -> Served<InjectEvidence, SupervisorError> {
        self.authorize(caller, Request::Inject).map_err(refusal)?;
        let kind = abi::Injection::from_u32(kind).ok_or(SupervisorError::NotAllowed)?;
        if !cfg!(feature = "test-control") {
            return Err(SupervisorError::NotAllowed.into());
        }
        if kind == abi::Injection::SupervisorFault {
            // Test images only: the kernel's answer to a supervisor fault
            // (a post-mortem dump, a reboot) is only testable if the
            // supervisor can be made to fault on purpose.
            panic!("injected on purpose (test-control supervisor)");
        }
        if index as usize >= kipc::task_count() {
            return Err(SupervisorError::NotAllowed.into());
        }
        let ev =
            kipc::inject(index as usize, kind, arg).map_err(|_| SupervisorError::NotAllowed)?;
        sys_log!(
            "injected {kind:?} ({arg:#x}) into {} for {}: {:#x}: {:#010x} -> {:#010x}",
            name_of(index as u16),
            name_of(caller.index() as u16),
            ev.location,
            ev.before,
            ev.after
        );
        Ok(ev)
    }

    fn restart_task(&mut self, caller: TaskId, index: u32) -> Served<(), SupervisorError> {
        self.authorize(caller, Request::RestartTask)
            .map_err(refusal)?;
        let task = index as usize;
        if task >= kipc::task_count() {
            return Err(SupervisorError::NoSuchTask.into());
        }
        sys_log!(
            "restart of {} requested by {}",
            name_of(task as u16),
            name_of(caller.index() as u16)
        );
        // As for a fault: the device stops DMA before the memory it
        // targets is re-initialised.
        // Read before the restart, which fails the calls waiting on it.
        let callers = callers_of(task);
        if let Some(slot) = self.bus.driver_died(task as u16) {
            self.detach(task as u16, slot);
        }
        // The kernel refuses to restart the supervisor itself.
        if !self.restart(task, RestartCause::Operator) {
            return Err(SupervisorError::NotAllowed.into());
        }
        // The operator's restart is a fresh start: a restart still pending
        // from a backoff would end the incarnation just made, and the old
        // faults would count against it (a task revived after its limit
        // was left down again at its next fault).
        self.restarts.forget(task);
        self.liveness.reset_after_restart(task, callers);
        self.arm_timer();
        Ok(())
    }

    fn shutdown(&mut self, caller: TaskId, code: u32) -> Served<(), SupervisorError> {
        self.authorize(caller, Request::Shutdown).map_err(refusal)?;
        if !cfg!(feature = "test-control") {
            return Err(SupervisorError::NotAllowed.into());
        }
        sys_log!(
            "shutdown requested by {} with code {code}",
            name_of(caller.index() as u16)
        );
        let _ = kipc::shutdown(code);
        Err(SupervisorError::NotAllowed.into())
    }
}

/// The typed error of a refused supervisor op.
pub(crate) fn refusal(r: Refusal) -> ServerError<SupervisorError> {
    match r {
        Refusal::TestOnly => SupervisorError::TestOnly.into(),
        Refusal::NotObserver => SupervisorError::NotObserver.into(),
        _ => SupervisorError::NotOperator.into(),
    }
}
