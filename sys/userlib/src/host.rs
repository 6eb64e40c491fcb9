//! What a task crate is on the host: its modules that make syscalls are
//! compiled only for the target, and its binary is a stub that says where
//! the task really runs. `cargo test` on the host then builds the crate's
//! library and its tests, never a task that would need a kernel.
//!
//! It must never pretend to run the task on the host: the stub only tells
//! the user to build an image.

/// Declares a task crate's target-only modules and its host stub `main`.
///
/// In a task's `main.rs`, after its crate attributes:
///
/// ```ignore
/// userlib::task_crate!(task);
/// ```
///
/// declares `mod task;` for the target (where it holds the task's
/// `#[export_name = "main"]` entry) and, on the host, a `main` that says
/// the crate is a Vireo task and how to build it. With no module names,
/// only the stub (for a crate whose task module is written inline).
#[macro_export]
macro_rules! task_crate {
    ($($module:ident),* $(,)?) => {
        $(
            #[cfg(target_os = "none")]
            mod $module;
        )*

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
