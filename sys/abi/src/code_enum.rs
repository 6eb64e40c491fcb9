//! [`code_enum!`]: how every enum of this crate is declared.

/// Declares an enum whose values cross a task boundary (a syscall
/// register, an IPC message) as plain `u32`s, written out as usual
/// (`#[repr(u32)]` and its derives included), and from the same list of
/// variants its decoding `from_u32` (`None` for a value no variant has) and
/// `ALL`, every variant in declaration order: a variant added to the enum
/// cannot be missing from the decoding, nor decode from the wrong number.
/// With a `describe` block it also declares `describe`, the short text logs
/// and the shell print; the compiler then insists that the block names
/// every variant. Drivers declare their own such codes with it too.
///
/// ```text
/// code_enum! {
///     /// What the enum is.
///     #[derive(Copy, Clone, Debug, PartialEq, Eq)]
///     #[repr(u32)]
///     pub enum Colour {
///         /// What the variant is.
///         Red = 0,
///         Green = 1,
///     }
///     describe {
///         Red => "red",
///         Green => "green",
///     }
/// }
/// ```
#[macro_export]
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal,)*
        }
        describe {
            $($described:ident => $text:literal,)*
        }
    ) => {
        $crate::code_enum! {
            $(#[$meta])*
            pub enum $name {
                $($(#[$vmeta])* $variant = $value,)*
            }
        }

        impl $name {
            /// A short description for logs and the shell.
            pub const fn describe(self) -> &'static str {
                match self {
                    $(Self::$described => $text,)*
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal,)*
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [Self; [$(Self::$variant),*].len()] = [$(Self::$variant),*];

            /// Decodes a value; `None` for one no variant has (a value
            /// from a peer is never trusted to be in range).
            pub const fn from_u32(n: u32) -> Option<Self> {
                match n {
                    $($value => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}
