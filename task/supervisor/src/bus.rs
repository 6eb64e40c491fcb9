//! The virtio bus side of the supervisor: reading the virtio-mmio slots,
//! resetting a device, and serving `idl/virtio-bus.idol` by carrying out
//! the `virtio-bus` crate's decisions.

use super::*;

/// The transport of `slot`, if the slot holds a virtio device.
pub(crate) fn transport(slot: usize) -> Option<MmioTransport<Mmio>> {
    // SAFETY: the supervisor's `virtio-bus` window (app.toml `uses`) covers
    // every virtio-mmio slot; `slot_base` stays inside it for slot < SLOTS.
    let regs = unsafe { Mmio::new(slot_base(slot as u32)) };
    MmioTransport::new(regs).ok()
}

/// Reads magic, version, device and vendor id of every slot (the seed's
/// `register_virtio_device`, once per slot).
pub(crate) fn enumerate() -> [Option<DeviceIdent>; SLOTS] {
    core::array::from_fn(|slot| {
        let t = transport(slot)?;
        let ident = DeviceIdent {
            device_id: t.device_id(),
            vendor_id: t.vendor_id(),
            version: if t.is_legacy() { 1 } else { 2 },
        };
        (ident.device_id != 0).then_some(ident)
    })
}

/// Resets the device in `slot` so it stops all DMA (VIRTIO 1.2 §2.4).
/// Resets the device in `slot`; false if it did not finish its reset (it
/// may still be doing DMA: the slot must be given up).
pub(crate) fn reset_device(slot: usize) -> bool {
    let Some(mut t) = transport(slot) else {
        return true;
    };
    if t.reset().is_err() {
        sys_log!("bus: slot {slot} did not finish its reset");
        return false;
    }
    true
}

/// The tasks that may drive exactly the devices `task` may (their app.toml
/// `drives`), in task order, `task` among them: the n-th of them is bound
/// to the n-th device of that kind, whichever registers first
/// ([`virtio_bus::Bus::register_among`]). At most `MAX_DRIVERS` (the bus
/// registers no more); `len` says how many.
fn peers_of(task: usize) -> ([u16; virtio_bus::MAX_DRIVERS], usize) {
    let mut peers = [0u16; virtio_bus::MAX_DRIVERS];
    let mut len = 0;
    let all = &tasks::AUTHORITY;
    if let Some(mine) = all.get(task).map(|a| a.device_ids) {
        for (t, _) in all.iter().enumerate().filter(|(_, a)| a.device_ids == mine) {
            if len == peers.len() {
                break;
            }
            peers[len] = t as u16;
            len += 1;
        }
    }
    (peers, len)
}

impl VirtioBusServer for Supervisor {
    fn register(
        &mut self,
        caller: TaskId,
        device_ids: [u32; 4],
        irq_bits: u32,
        remove_bits: u32,
        probe_bits: u32,
    ) -> Served<Probe, BusError> {
        self.authorize(caller, Request::Register(device_ids))
            .map_err(|_| BusError::NotPermitted)?;
        let task = caller.index() as u16;
        // A driver its policy holds back (restart pending, or given up)
        // for what it did alive gets no device before its restart.
        if self.restarts.held_back(task as usize) {
            return Err(BusError::NotPermitted.into());
        }
        let reg = Registration {
            task,
            ids: device_ids,
            irq_bits,
            remove_bits,
            probe_bits,
        };
        let (peers, len) = peers_of(task as usize);
        let probe = self.bus.register_among(reg, &peers[..len])?;
        let slot = probe.slot as usize;
        // The seed's probe: a device in a known state, then the driver's.
        // One that cannot even be reset is given to nobody.
        if !reset_device(slot) {
            self.bus.grant_failed(task);
            self.bus.mark_failed(slot);
            sys_log!("bus: slot {slot} marked failed (no reset)");
            return Err(BusError::NoDevice.into());
        }
        if kipc::grant_device(task as usize, slot, irq_bits).is_err() {
            self.bus.grant_failed(task);
            return Err(BusError::GrantFailed.into());
        }
        sys_log!(
            "bus: slot {slot} (device {}, transport v{}) bound to {}",
            probe.device_id,
            probe.version,
            name_of(task)
        );
        self.arm_timer();
        Ok(probe)
    }

    fn removed(&mut self, caller: TaskId) -> Served<(), BusError> {
        let task = caller.index() as u16;
        if let Some(slot) = self.bus.unasked_release(task) {
            // The driver thinks it has given its device up, the bus never
            // asked: it would now answer its clients "no device" while the
            // slot stays bound to it. Its state is wrong; the restart (device
            // reset first) brings one that registers and is probed again.
            sys_log!(
                "bus: {} released slot {slot} unasked; restarting it as its policy says",
                name_of(task)
            );
            self.bus.driver_died(task);
            self.detach(task, slot);
            self.restart_per_policy(task as usize, RestartCause::UnaskedRelease, Some(slot));
            return Err(BusError::NotBound.into());
        }
        let slot = self.bus.removed(task)?;
        self.detach(task, slot);
        self.arm_timer();
        sys_log!("bus: slot {slot} released by {}", name_of(task));
        Ok(())
    }

    fn devices(&mut self, _: TaskId) -> Served<DeviceTable> {
        Ok(self.bus.table())
    }

    fn unbind(&mut self, caller: TaskId, slot: u32) -> Served<(), BusError> {
        self.authorize(caller, Request::Unbind(slot as usize))
            .map_err(|_| BusError::NotPermitted)?;
        match self.bus.unbind(slot as usize)? {
            Unbind::Done => {}
            Unbind::AskDriver { task, bits } => {
                let _ = sys_post(current_id(task), bits);
                let deadline = sys_get_timer().now + REMOVAL_DEADLINE_MS * abi::TICKS_PER_MS;
                self.removal_deadline[slot as usize] = Some(deadline);
                self.arm_timer();
            }
        }
        Ok(())
    }

    fn bind(&mut self, caller: TaskId, slot: u32) -> Served<(), BusError> {
        self.authorize(caller, Request::Bind(slot as usize))
            .map_err(|_| BusError::NotPermitted)?;
        if let Some(poke) = self.bus.bind(slot as usize)? {
            let _ = sys_post(current_id(poke.task), poke.bits);
        }
        Ok(())
    }
}
