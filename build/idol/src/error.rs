//! The compiler's one error type: a broken IDL file, in words.

use std::fmt;

/// What is wrong with an IDL file, and where: the file, the line and column
/// when known, the part of the file (an op, an error enum), and the problem.
///
/// `Debug` prints the same text as `Display`, so a `build.rs` whose `main`
/// returns `Result<(), Box<dyn Error>>` shows the message as written.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    /// The IDL file as given to the compiler.
    pub file: String,
    /// 1-based line and column, when the problem has a position.
    pub position: Option<(usize, usize)>,
    /// The part of the interface: "op `sum`", "error enum `PingError`".
    pub context: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Error {
    pub(crate) fn new(file: &str, context: Option<String>, message: impl Into<String>) -> Self {
        Error {
            file: file.to_string(),
            position: None,
            context,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}
