//! The shell's loop: wait for the receive interrupt, feed every waiting
//! byte to the line editor, echo, and run each completed line.

use task_shell::{Key, LineEditor, PROMPT};
use userlib::{sys_irq_control, sys_recv_notification};

use crate::run::Shell;
use crate::uart::Uart;

/// Notification bit of the UART receive interrupt (app.toml
/// `notifications = ["rx"]`, `interrupts = { rx = 10 }`).
const RX_BIT: u32 = 1 << 0;
/// Longest command line.
const LINE_MAX: usize = 120;

#[export_name = "main"]
fn main() -> ! {
    // SAFETY: app.toml gives this task the `uart` window; this is the only
    // `Uart`.
    let mut uart = unsafe { Uart::new() };
    uart.enable_receive_interrupt();
    let mut shell = Shell::new(uart);
    let mut line = LineEditor::<LINE_MAX>::new();
    shell.banner();
    shell.out(PROMPT);
    loop {
        sys_irq_control(RX_BIT, true);
        sys_recv_notification(RX_BIT);
        while let Some(byte) = shell.uart().read() {
            match line.feed(byte) {
                Key::Echo(b) => shell.uart().write(&[b]),
                Key::EchoChar(c) => shell.uart().write(c.encode_utf8(&mut [0; 4]).as_bytes()),
                Key::Erase => shell.out("\x08 \x08"),
                Key::EraseAll(n) => {
                    for _ in 0..n {
                        shell.out("\x08 \x08");
                    }
                }
                Key::Full | Key::Invalid => shell.out("\x07"),
                Key::Cancel => {
                    shell.out("^C\n");
                    shell.out(PROMPT);
                }
                Key::Submit => {
                    shell.out("\n");
                    shell.execute(line.line());
                    line.clear();
                    shell.out(PROMPT);
                }
                Key::Overlong => {
                    shell.out("\n");
                    shell.line_too_long(LINE_MAX);
                    shell.out(PROMPT);
                }
                Key::NotUtf8 => {
                    shell.out("\n");
                    shell.line_not_utf8();
                    shell.out(PROMPT);
                }
                Key::Ignore => {}
            }
        }
    }
}
