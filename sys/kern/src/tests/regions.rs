//! A task's region table: granted windows fill it to its capacity, and
//! revoking any of them (not only the newest) removes exactly that one.
//!
//! Each region is a PMP entry while the task runs, so a revoked window left
//! in the table stays mapped: the property here is what keeps a revoked
//! driver out of its old device.

use crate::descs::{RegionDesc, MAX_TASK_REGIONS, REGION_DEVICE, REGION_READ, REGION_WRITE};

use super::harness::*;

fn window(n: usize) -> RegionDesc {
    RegionDesc {
        base: 0x1000_0000 + n * 0x1000,
        size: 0x1000,
        attributes: REGION_READ | REGION_WRITE | REGION_DEVICE,
    }
}

/// The task's two regions from the image (text and RAM).
const FIXED: usize = 2;

#[test]
fn grants_fill_the_table_to_capacity_and_no_further() {
    let h = Harness::three();
    let t = &mut h.sys.tasks[SRV];
    assert_eq!(t.regions().len(), FIXED);
    for n in 0..MAX_TASK_REGIONS - FIXED {
        assert!(t.add_region(window(n)), "window {n}");
    }
    assert_eq!(t.regions().len(), MAX_TASK_REGIONS);
    assert!(!t.add_region(window(99)), "the table is full");
    assert_eq!(t.regions().len(), MAX_TASK_REGIONS);
    // Once one is revoked there is room again.
    assert!(t.remove_region(&window(0)));
    assert!(t.add_region(window(99)));
}

/// `Task::region(i)` (the memory check's look at the RAM first) is
/// exactly `regions().get(i)`: a region the task holds now, never an entry
/// of the table past its count (a revoked window's old slot among them).
#[test]
fn one_region_is_looked_up_as_the_table_holds_it() {
    let h = Harness::three();
    let t = &mut h.sys.tasks[SRV];
    let agree = |t: &crate::task::Task, when: &str| {
        for i in 0..=MAX_TASK_REGIONS {
            assert_eq!(t.region(i), t.regions().get(i), "region {i} {when}");
        }
    };
    agree(t, "from the image");
    for n in 0..MAX_TASK_REGIONS - FIXED {
        assert!(t.add_region(window(n)));
        agree(t, "as grants fill the table");
    }
    for n in (0..MAX_TASK_REGIONS - FIXED).rev() {
        assert!(t.remove_region(&window(n)));
        agree(t, "as grants are revoked");
    }
}

#[test]
fn the_same_window_is_never_held_twice() {
    let h = Harness::three();
    let t = &mut h.sys.tasks[SRV];
    assert!(t.add_region(window(1)));
    assert!(!t.add_region(window(1)));
    assert_eq!(t.regions().len(), FIXED + 1);
}

#[test]
fn revoking_any_grant_removes_exactly_that_one() {
    let grants = MAX_TASK_REGIONS - FIXED;
    for victim in 0..grants {
        let h = Harness::three();
        let t = &mut h.sys.tasks[SRV];
        let fixed: Vec<RegionDesc> = t.regions().to_vec();
        for n in 0..grants {
            assert!(t.add_region(window(n)));
        }
        assert!(t.remove_region(&window(victim)), "window {victim}");
        let mut expected = fixed.clone();
        expected.extend((0..grants).filter(|&n| n != victim).map(window));
        assert_eq!(t.regions(), &expected[..], "after revoking window {victim}");
        // Revoking it again finds nothing and changes nothing.
        assert!(!t.remove_region(&window(victim)));
        assert_eq!(t.regions(), &expected[..]);
    }
}

#[test]
fn the_image_regions_cannot_be_revoked() {
    let h = Harness::three();
    let t = &mut h.sys.tasks[SRV];
    let fixed: Vec<RegionDesc> = t.regions().to_vec();
    assert!(t.add_region(window(0)));
    for r in &fixed {
        assert!(!t.remove_region(r), "{r:?}");
    }
    assert_eq!(&t.regions()[..FIXED], &fixed[..]);
    assert_eq!(t.regions().len(), FIXED + 1);
}

#[test]
fn a_restart_drops_the_loaded_protection_with_its_grants() {
    use crate::{faults, syscalls};

    let mut h = Harness::three();
    let code = h.grant(SUP, SRV, 0, 0b100);
    assert_eq!(code, abi::SUCCESS);
    let granted = h.task(SRV).regions().len();
    // SRV runs with the window in its protection.
    h.recv(SUP, 0, 1);
    assert_eq!(syscalls::next_task(&mut h.sys, SUP), Some(SRV));
    assert_eq!(h.sys.machine.protected.last().unwrap().len(), granted);

    // Restarted while its protection is the one loaded: the next time it
    // runs, the image's regions alone are loaded again.
    assert!(faults::restart_task(&mut h.sys, SRV));
    assert_eq!(h.task(SRV).regions().len(), FIXED);
    let loads = h.sys.machine.protected.len();
    assert_eq!(syscalls::next_task(&mut h.sys, SRV), Some(SRV));
    assert_eq!(h.sys.machine.protected.len(), loads + 1, "reloaded");
    assert_eq!(
        h.sys.machine.protected.last().unwrap().as_slice(),
        h.task(SRV).regions()
    );
}

#[test]
fn region_attributes_are_distinct_single_bits() {
    use crate::descs::REGION_EXECUTE;
    let bits = [REGION_READ, REGION_WRITE, REGION_EXECUTE, REGION_DEVICE];
    for (i, a) in bits.iter().enumerate() {
        assert!(a.is_power_of_two(), "{a:#x}");
        for b in &bits[i + 1..] {
            assert_eq!(a & b, 0, "{a:#x} and {b:#x} overlap");
        }
    }
}

/// A task's cache of compiled protection has a word for each entry's
/// address register and, as RV32 packs four entries' 8-bit configurations
/// into one `pmpcfg` word, one word per four entries: room for every
/// entry a task may have.
#[test]
fn the_protection_cache_holds_every_entry_and_its_configuration() {
    let cache = crate::task::ProtectionCache::default();
    assert_eq!(
        cache.words.len(),
        MAX_TASK_REGIONS + MAX_TASK_REGIONS.div_ceil(4)
    );
}
