//! What a task crate is on the host: its modules that make syscalls are
//! compiled only for the target, and its binary is a stub that says where
//! the task really runs. `cargo test` on the host then builds the crate's
//! library and its tests, never a task that would need a kernel.
//!
//! It must never pretend to run the task on the host: the stub only tells
//! the user to build an image.

/// Declares a task crate's host stub `main`.
///
/// In a task's `main.rs`, after its crate attributes:
///
/// ```ignore
/// #[cfg(target_os = "none")]
/// mod task;
///
/// userlib::task_crate!();
/// ```
///
/// `mod task;` (and any other module that makes syscalls) is compiled only
/// for the target, where it holds the task's `#[export_name = "main"]`
/// entry; on the host the macro gives a `main` that says the crate is a
/// Vireo task and how to build it.
///
/// The modules are declared by hand, not by the macro: rustfmt does not
/// expand macros, so `cargo fmt --all` never saw a module the macro once
/// declared (`task_crate!(run, task, uart)` left the shell's `run.rs`
/// unformatted, and the net task's, echo's and virtio-net's task modules
/// too).
#[macro_export]
macro_rules! task_crate {
    () => {
        /// On the host this crate is its library; the task only runs on
        /// Vireo.
        #[cfg(not(target_os = "none"))]
        fn main() {
            eprintln!(
                "{} is a Vireo task: build it into an image with `cargo xtask build`",
                env!("CARGO_PKG_NAME")
            );
        }
    };
}
