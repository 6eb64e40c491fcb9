//! The macros as a task uses them: declared at module level, found by name.

use ringbuf::{ringbuf, ringbuf_entry};

#[derive(Copy, Clone, PartialEq, Debug)]
enum Trace {
    None,
    Start,
    Poll(u32),
}

ringbuf!(TRACE, Trace, 4, Trace::None);

#[test]
fn records_through_the_macros() {
    ringbuf_entry!(TRACE, Trace::Start);
    for _ in 0..1000 {
        ringbuf_entry!(TRACE, Trace::Poll(1));
    }
    ringbuf_entry!(TRACE, Trace::Poll(2));
    #[cfg(not(feature = "disabled"))]
    {
        let got = TRACE.snapshot();
        assert_eq!(
            got[0].map(|e| (e.payload, e.count)),
            Some((Trace::Poll(2), 1))
        );
        assert_eq!(
            got[1].map(|e| (e.payload, e.count)),
            Some((Trace::Poll(1), 1000))
        );
        assert_eq!(
            got[2].map(|e| (e.payload, e.count)),
            Some((Trace::Start, 1))
        );
        assert_eq!(got[3], None);
    }
}

mod nested {
    ringbuf::ringbuf!(TRACE, u16, 2, 0);

    pub fn touch() {
        ringbuf::ringbuf_entry!(TRACE, 5u16);
    }
}

#[test]
fn rings_in_different_modules_are_distinct() {
    nested::touch();
    nested::touch();
}
