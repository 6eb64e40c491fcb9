//! userlib
