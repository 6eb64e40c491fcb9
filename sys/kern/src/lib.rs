//! kernel core
