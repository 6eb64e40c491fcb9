//! The fault campaign's plan: which fault comes `index`-th in a campaign
//! of seed `seed`, drawn from that pair alone.
//!
//! Each fault has its own generator, seeded from the campaign seed and the
//! fault's index, so the sequence does not depend on what happened during
//! earlier faults (a retry that took longer, a write that failed) and
//! fault `K` can be replayed alone (`--only K`) exactly as it came in the
//! whole campaign: same workload steps before it, same kind, target and
//! argument.

use crate::point::Point;
use crate::DriverFault;

/// A fault the campaign can inject.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The driver commits this fault on itself.
    Driver(DriverFault),
    /// The kernel flips a bit of one of the target's registers.
    FlipRegisterBit,
    /// The kernel flips a bit of a word of the target's RAM.
    FlipRamBit,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; DriverFault::ALL.len() + 2] = {
        let mut all = [Kind::FlipRegisterBit; DriverFault::ALL.len() + 2];
        let mut i = 0;
        while i < DriverFault::ALL.len() {
            all[i] = Kind::Driver(DriverFault::ALL[i]);
            i += 1;
        }
        all[i + 1] = Kind::FlipRamBit;
        all
    };

    /// Position in [`Kind::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// A short name for reports.
    pub const fn describe(self) -> &'static str {
        match self {
            Kind::Driver(d) => d.describe(),
            Kind::FlipRegisterBit => "register bit flip",
            Kind::FlipRamBit => "RAM bit flip",
        }
    }
}

/// Where faulting stores and jumps aim, fixed by the test image.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Aims {
    /// Start and size of the kernel's RAM (a store there must fault).
    pub kernel_ram: (u32, u32),
    /// A word of another task's RAM (the campaign's own).
    pub other_task: u32,
    /// A device window granted to no driver.
    pub ungranted_device: u32,
}

/// One planned fault.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Its index in the campaign.
    pub index: u32,
    /// Workload steps to run before it.
    pub steps: u32,
    /// What to inject.
    pub kind: Kind,
    /// Which target (an index into the campaign's list of drivers).
    pub target: usize,
    /// The injection's argument (address, value, or register/bit).
    pub arg: u32,
    /// Where a driver fault is committed: at once, or armed for a point of
    /// the request path (three in four: so most faults hit the driver with
    /// requests in flight). Always [`Point::Now`] for the bit flips.
    pub point: Point,
    /// More draws for the workload steps of this fault.
    pub rng: Rng,
}

/// A small, fast generator (xorshift64*), never zero.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `(seed, stream)`: a splitmix64 of both, so nearby
    /// seeds and indices give unrelated streams.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut z = seed
            .wrapping_add(stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-enough in `0..n` (0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Fault `index` of the campaign of `seed` against targets weighted by
/// `weights` (each driver's share of the work: a target of weight 0 is
/// never chosen).
pub fn fault(seed: u64, index: u32, weights: &[u32], aims: &Aims) -> Fault {
    let mut rng = Rng::new(seed, u64::from(index));
    let steps = 1 + rng.below(6) as u32;
    let kind = Kind::ALL[rng.below(Kind::ALL.len() as u64) as usize];
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let mut pick = rng.below(total);
    let mut target = 0;
    for (i, &w) in weights.iter().enumerate() {
        if pick < u64::from(w) {
            target = i;
            break;
        }
        pick -= u64::from(w);
    }
    let r = rng.next_u64() as u32;
    let arg = match kind {
        Kind::Driver(DriverFault::StoreKernelRam) => {
            aims.kernel_ram.0 + ((r % aims.kernel_ram.1.max(4)) & !3)
        }
        Kind::Driver(DriverFault::StoreOtherTaskRam) => aims.other_task,
        Kind::Driver(DriverFault::StoreUngrantedDevice) => aims.ungranted_device,
        // Below RAM and 4-aligned: never a task's text, so the fetch
        // always faults, at exactly this address.
        Kind::Driver(DriverFault::WildJump) => r & 0x7fff_fffc,
        // Descriptors into address space with nothing behind it (above
        // the RAM of QEMU's virt machine): the device refuses them rather
        // than DMA into somebody's memory.
        Kind::Driver(DriverFault::CorruptDescriptors) => 0xc000_0000 | (r & 0x0f00_0000),
        _ => r,
    };
    let draw = rng.below(8);
    let point = match kind {
        Kind::Driver(_) => match draw {
            0..=1 => Point::Now,
            2..=4 => Point::BeforeKick,
            _ => Point::BeforeReply,
        },
        Kind::FlipRegisterBit | Kind::FlipRamBit => Point::Now,
    };
    Fault {
        index,
        steps,
        kind,
        target,
        arg,
        point,
        rng,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AIMS: Aims = Aims {
        kernel_ram: (0x8001_0000, 0x8000),
        other_task: 0x8013_0000,
        ungranted_device: 0x1000_0000,
    };

    #[test]
    fn the_same_seed_gives_the_same_faults_in_any_order() {
        let forward: Vec<_> = (0..500).map(|i| fault(90210, i, &[4, 1], &AIMS)).collect();
        let backward: Vec<_> = (0..500)
            .rev()
            .map(|i| fault(90210, i, &[4, 1], &AIMS))
            .collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        // Fault 123 alone (`--only 123`) is fault 123 of the campaign.
        assert_eq!(fault(90210, 123, &[4, 1], &AIMS), forward[123]);
        let other: Vec<_> = (0..500).map(|i| fault(4242, i, &[4, 1], &AIMS)).collect();
        assert_ne!(forward, other);
    }

    #[test]
    fn every_kind_and_target_is_drawn_and_weights_hold() {
        let mut kinds = [0u32; Kind::ALL.len()];
        let mut targets = [0u32; 3];
        let mut points = [0u32; 3];
        for i in 0..6000 {
            let f = fault(7, i, &[3, 1, 0], &AIMS);
            points[f.point as usize] += 1;
            if !matches!(f.kind, Kind::Driver(_)) {
                assert_eq!(f.point, Point::Now, "a flip is the kernel's, at once");
            }
            kinds[f.kind.index()] += 1;
            targets[f.target] += 1;
            assert!((1..=6).contains(&f.steps));
            match f.kind {
                Kind::Driver(DriverFault::StoreKernelRam) => {
                    assert!((0x8001_0000..0x8001_8000).contains(&f.arg) && f.arg.is_multiple_of(4))
                }
                Kind::Driver(DriverFault::WildJump) => {
                    assert!(f.arg < 0x8000_0000 && f.arg.is_multiple_of(4))
                }
                Kind::Driver(DriverFault::CorruptDescriptors) => {
                    assert!(f.arg >= 0xc000_0000)
                }
                _ => {}
            }
        }
        assert!(kinds.iter().all(|&n| n > 300), "{kinds:?}");
        assert!(points.iter().all(|&n| n > 600), "{points:?}");
        assert_eq!(targets[2], 0);
        // About 3:1.
        assert!(targets[0] > 2 * targets[1] && targets[0] < 4 * targets[1]);
    }
}
