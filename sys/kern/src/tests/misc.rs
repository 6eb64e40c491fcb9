//! Console lines, the log syscall, task ids.

use abi::{Generation, Sysnum, TaskId, UsageError};

use super::harness::*;
use crate::console;
use crate::syscalls::{self, Exception};

/// 1.234567 s and 9 ticks (less than a microsecond) of 10 MHz time.
const T: u64 = 12_345_679;

#[test]
fn console_lines_carry_time_and_source() {
    let mut h = Harness::three();
    h.sys.machine.now = T;
    console::kernel_line(&mut h.sys.machine, format_args!("hello {}", 42));
    assert_eq!(h.console(), "[   1.234567] kernel: hello 42\n");

    let mut h = Harness::three();
    h.sys.machine.now = 10_000_000 * 12_345 + 10;
    console::task_text(&mut h.sys.machine, "srv", b"x");
    assert_eq!(h.console(), "[12345.000001] srv: x\n");
}

#[test]
fn log_prefixes_every_line_and_replaces_control_characters() {
    let mut h = Harness::three();
    h.sys.machine.now = T;
    let text = b"one\x1b[2J\ttwo\r\nthree\x7f\xc3\xa9\n";
    h.write(CLI, MSG_OUT, text);
    let ptr = h.addr(CLI, MSG_OUT);
    h.syscall(CLI, Sysnum::Log, &[ptr, text.len()]);
    assert_eq!(
        h.console(),
        "[   1.234567] cli: one?[2J?two?\n[   1.234567] cli: three?\u{e9}\n"
    );
    assert!(h.task(CLI).is_healthy());
}

#[test]
fn log_of_memory_the_task_does_not_own_faults_it() {
    let mut h = Harness::three();
    let other = h.addr(SRV, 0);
    h.syscall(CLI, Sysnum::Log, &[other, 4]);
    h.assert_usage_fault(CLI, UsageError::InvalidSlice);
    assert_eq!(h.console(), "");
}

#[test]
fn refresh_task_id_returns_the_current_generation() {
    let mut h = Harness::three();
    let old = h.id(SRV);
    syscalls::exception(&mut h.sys, SRV, Exception::Breakpoint);
    h.restart(SRV);
    h.syscall(CLI, Sysnum::RefreshTaskId, &[old.0 as usize]);
    assert_eq!(
        TaskId(h.ret(CLI, 0) as u32),
        TaskId::new(SRV as u16, Generation(1))
    );
    // An index with no task comes back unchanged.
    h.syscall(CLI, Sysnum::RefreshTaskId, &[TaskId::KERNEL.0 as usize]);
    assert_eq!(TaskId(h.ret(CLI, 0) as u32), TaskId::KERNEL);
}

#[test]
fn system_new_starts_only_tasks_marked_start() {
    let h = Harness::three_server_stopped();
    assert!(h.task(SUP).is_healthy());
    assert_eq!(h.task(SRV).state(), crate::task::TaskState::Stopped);
    let t = h.task(CLI);
    assert!(t.is_healthy());
    assert_eq!(t.save().pc(), t.desc().entry);
    assert_eq!(t.save().sp(), t.desc().initial_sp);
    assert_eq!(t.generation(), Generation(0));
}

#[test]
fn user_slices_keep_their_address_through_every_narrowing() {
    use crate::umem::USlice;
    let s = USlice::<u8>::from_raw(0x8000_1000, 64).unwrap();
    assert_eq!((s.base(), s.len()), (0x8000_1000, 64));
    let sub = s.subslice(16, 8).unwrap();
    assert_eq!((sub.base(), sub.len()), (0x8000_1010, 8));
    assert_eq!(s.prefix(4).base(), 0x8000_1000);
    assert!(s.subslice(60, 8).is_none());
    assert!(USlice::<u8>::from_raw(usize::MAX, 2).is_none());
    assert_eq!(USlice::<u8>::EMPTY.base(), 0);
}

#[test]
fn kernel_lines_print_numbers_exactly() {
    // The kernel formats without core::fmt: every digit is its own code.
    let mut h = Harness::three();
    h.sys.machine.now = 0;
    console::Line::kernel(&mut h.sys.machine)
        .str("n=")
        .dec(0)
        .str(" ")
        .dec(7)
        .str(" ")
        .dec(1_000_000_007)
        .str(" ")
        .dec(u32::MAX)
        .str(" ")
        .hex(0)
        .str(" ")
        .hex(0xdead_beef)
        .str(" ")
        .hex(0x0123_4567)
        .end();
    assert_eq!(
        h.console(),
        "[   0.000000] kernel: n=0 7 1000000007 4294967295 0x00000000 0xdeadbeef 0x01234567\n"
    );
}

#[test]
fn console_time_is_right_across_the_whole_clock() {
    // Seconds and microseconds by the kernel's own long division, checked
    // against the host's for times up to the end of a 64-bit clock.
    let per_s = abi::TICKS_PER_MS * 1000;
    let per_us = per_s / 1_000_000;
    for now in [
        0u64,
        per_us - 1,
        per_s - 1,
        per_s,
        9_999 * per_s + 999_999 * per_us,
        10_000 * per_s,
        (1 << 32) + 12_345,
        (1 << 40) | 0xABCDEF,
        u64::MAX / 3,
        u64::MAX,
    ] {
        let mut h = Harness::three();
        h.sys.machine.now = now;
        console::task_text(&mut h.sys.machine, "t", b"x");
        let want = format!("[{:4}.{:06}] t: x\n", now / per_s, (now % per_s) / per_us);
        assert_eq!(h.console(), want, "now = {now}");
    }
}

#[test]
fn task_text_ends_each_line_once_and_keeps_printable_bytes() {
    let mut h = Harness::three();
    // Every printable ASCII byte passes; 0x1f and 0x7f do not; a single
    // trailing newline does not make an empty line, a second one does.
    let printable: Vec<u8> = (0x20..0x7f).collect();
    let mut text = printable.clone();
    text.extend_from_slice(b"\x1f\x7f\n\n");
    console::task_text(&mut h.sys.machine, "t", &text);
    let want = format!(
        "[   0.000000] t: {}??\n[   0.000000] t: \n",
        String::from_utf8(printable).unwrap()
    );
    assert_eq!(h.console(), want);
}

#[test]
fn task_text_turns_utf8_c1_controls_into_question_marks_and_keeps_other_utf8() {
    let mut h = Harness::three();
    // CSI 2 J (U+009B), OSC (U+009D), U+0080 and U+009F are controls, and
    // RLO (U+202E) and LRI (U+2066) reorder a line: each becomes one `?`.
    // U+00A0 (C2 A0), "é" (C3 A9), "—" (E2 80 94, a 0x80 continuation
    // byte) and "😀" (four bytes) pass whole.
    let text = "a\u{9b}2J\u{9d}b\u{80}\u{9f}\u{202e}x\u{2066}\u{a0}é—😀".as_bytes();
    console::task_text(&mut h.sys.machine, "t", text);
    let want = "[   0.000000] t: a?2J?b???x?\u{a0}é—😀\n";
    assert_eq!(h.console(), want);
}

#[test]
fn task_text_turns_bytes_that_are_not_utf8_into_question_marks() {
    let mut h = Harness::three();
    // Lone continuation bytes (0x9B is CSI to a terminal taking 8-bit
    // controls), a lead byte cut short by the next character or by the
    // end, an overlong NUL (C0 80) and ESC (E0 80 9B), a surrogate
    // (ED A0 80), a code point past U+10FFFF (F4 90 80 80) and bytes no
    // character begins with (F8, FF): each byte is one `?`.
    let text = b"a\x9b\x80b\xc3c\xc0\x80\xe0\x80\x9b\xed\xa0\x80\xf4\x90\x80\x80\xf8\xff\xe2\x80";
    console::task_text(&mut h.sys.machine, "t", text);
    assert_eq!(h.console(), "[   0.000000] t: a??b?c????????????????\n");
}
