//! The servers the tests run: straightforward implementations of the
//! generated traits, state kept where tests can inspect it.

#![allow(dead_code)]

use abi::{Generation, TaskId};
use idol_fixture::everything_client::{Failure, Mode, Point};
use idol_fixture::everything_server::{
    everything_dispatch, EverythingServer, EVERYTHING_BUFFER_SIZE,
};
use idol_fixture::ping_client::{PingError, PingStatus};
use idol_fixture::ping_server::{ping_dispatch, PingServer, PING_BUFFER_SIZE};
use idol_runtime::mock::MockKernel;
use idol_runtime::{
    LeaseError, Leased, NotificationHandler, Read, ReadWrite, RecvMessage, Served, Write,
};
use std::cell::RefCell;
use std::rc::Rc;

pub const SERVER: TaskId = TaskId::new(3, Generation(0));
pub const CLIENT: TaskId = TaskId::new(1, Generation(0));

#[derive(Default)]
pub struct Ping {
    pub served: u32,
    pub notifications: Vec<u32>,
}

impl NotificationHandler for Ping {
    fn notification_mask(&self) -> u32 {
        0b101
    }

    fn handle_notification(&mut self, bits: u32) {
        self.notifications.push(bits);
    }
}

/// Folds every byte of a read lease into `init`, borrowing `CHUNK` bytes
/// at a time (as the QEMU server does, so long leases take several borrows).
fn fold_lease<const CHUNK: usize, A>(
    data: &Leased<'_, Read, u8>,
    init: A,
    f: impl Fn(A, u8) -> A,
) -> Result<A, LeaseError> {
    let mut chunk = [0u8; CHUNK];
    let mut acc = init;
    let mut at = 0;
    while at < data.len() {
        let n = chunk.len().min(data.len() - at);
        data.read_range(at, &mut chunk[..n])?;
        acc = chunk[..n].iter().fold(acc, |a, b| f(a, *b));
        at += n;
    }
    Ok(acc)
}

impl PingServer for Ping {
    fn add(&mut self, _caller: TaskId, a: u32, b: u32) -> Served<u32> {
        self.served += 1;
        Ok(a.wrapping_add(b))
    }

    fn sum(&mut self, _caller: TaskId, data: Leased<'_, Read, u8>) -> Served<u32> {
        self.served += 1;
        Ok(fold_lease::<64, _>(&data, 0u32, |t, b| {
            t.wrapping_add(u32::from(b))
        })?)
    }

    fn fill(&mut self, _caller: TaskId, byte: u8, buf: Leased<'_, Write, u8>) -> Served<u32> {
        self.served += 1;
        let chunk = [byte; 64];
        let mut at = 0;
        while at < buf.len() {
            let n = chunk.len().min(buf.len() - at);
            buf.write_range(at, &chunk[..n])?;
            at += n;
        }
        Ok(buf.len() as u32)
    }

    fn status(&mut self, _caller: TaskId) -> Served<PingStatus> {
        let status = if self.served == 0 {
            PingStatus::Idle
        } else {
            PingStatus::Served {
                requests: self.served,
            }
        };
        self.served += 1;
        Ok(status)
    }

    fn divide(&mut self, _caller: TaskId, dividend: u32, divisor: u32) -> Served<u32, PingError> {
        self.served += 1;
        dividend
            .checked_div(divisor)
            .ok_or(PingError::DivideByZero.into())
    }

    fn checksum(&mut self, _caller: TaskId, seed: u64, data: Leased<'_, Read, u8>) -> Served<u64> {
        self.served += 1;
        Ok(fold_lease::<256, _>(&data, seed, |h, b| {
            h.rotate_left(5) ^ u64::from(b)
        })?)
    }

    fn crash(&mut self, _caller: TaskId) -> Served<()> {
        // The QEMU server panics here; the mock kills it with
        // `kill_server_during_next_calls` instead.
        Ok(())
    }
}

/// A kernel with a `Ping` server installed.
pub fn ping_system() -> (Rc<MockKernel>, Rc<RefCell<Ping>>) {
    system(PING_BUFFER_SIZE, |s, k, buffer, msg| {
        ping_dispatch(s, k, buffer, msg)
    })
}

/// A kernel serving a fresh `S` through its generated `dispatch`, with a
/// receive buffer of `buffer_size` bytes; the server is shared with the
/// test so it can inspect its state.
fn system<S: Default + 'static>(
    buffer_size: usize,
    dispatch: fn(&mut S, &MockKernel, &[u8], &RecvMessage),
) -> (Rc<MockKernel>, Rc<RefCell<S>>) {
    let kernel = Rc::new(MockKernel::new(SERVER));
    let server = Rc::new(RefCell::new(S::default()));
    let s = server.clone();
    kernel.serve_with(buffer_size, move |k, buffer, msg| {
        dispatch(&mut s.borrow_mut(), k, buffer, msg)
    });
    (kernel, server)
}

#[derive(Default)]
pub struct Everything {
    pub calls: u32,
}

impl NotificationHandler for Everything {}

impl EverythingServer for Everything {
    fn nothing(&mut self, _caller: TaskId) -> Served<()> {
        self.calls += 1;
        Ok(())
    }

    fn scalars(
        &mut self,
        _caller: TaskId,
        flag: bool,
        small: i8,
        big: i64,
        wide: u64,
        half: u16,
        real: f32,
    ) -> Served<i64> {
        let sign = if flag { 1 } else { -1 };
        Ok(sign
            * i64::from(small)
                .wrapping_add(big)
                .wrapping_add(wide as i64)
                .wrapping_add(i64::from(half))
                .wrapping_add(real as i64))
    }

    fn arrays(
        &mut self,
        _caller: TaskId,
        bytes: [u8; 4],
        flags: [bool; 3],
        big: [u16; 40],
    ) -> Served<[u8; 4]> {
        let mut out = bytes;
        out.reverse();
        out[0] = out[0].wrapping_add(flags.iter().filter(|f| **f).count() as u8);
        out[3] = big.iter().map(|x| *x as u8).fold(0, u8::wrapping_add);
        Ok(out)
    }

    fn named(&mut self, _caller: TaskId, p: Point, scale: u32) -> Served<Point> {
        self.calls += 1;
        Ok(Point {
            x: p.x.wrapping_mul(scale as i32),
            y: p.y.wrapping_mul(scale as i32),
        })
    }

    fn rich(
        &mut self,
        _caller: TaskId,
        maybe: Option<u32>,
        mode: Mode,
        flag: bool,
        bytes: [u8; 8],
    ) -> Served<Option<Mode>, Failure> {
        match maybe {
            Some(n) if n > 100 => Err(Failure::TooBig.into()),
            Some(n) if flag => Ok(Some(Mode::Burst {
                count: n as u8,
                at: Point {
                    x: bytes[0] as i32,
                    y: 0,
                },
            })),
            Some(_) => Ok(Some(mode)),
            None => Ok(None),
        }
    }

    fn check(&mut self, _caller: TaskId, value: u32) -> Served<(), Failure> {
        match value {
            v if v % 2 == 1 => Err(Failure::Odd.into()),
            u32::MAX => Err(Failure::Last.into()),
            _ => Ok(()),
        }
    }

    fn copy(
        &mut self,
        _caller: TaskId,
        src: Leased<'_, Read, u32>,
        scratch: Leased<'_, ReadWrite, u32>,
        dst: Leased<'_, Write, u32>,
    ) -> Served<u32, Failure> {
        if scratch.len() < src.len() || dst.len() < src.len() {
            return Err(Failure::TooBig.into());
        }
        for i in 0..src.len() {
            scratch.write_at(i, src.read_at(i)?)?;
            dst.write_at(i, scratch.read_at(i)? + 1)?;
        }
        Ok(src.len() as u32)
    }

    fn points(&mut self, _caller: TaskId, points: Leased<'_, ReadWrite, Point>) -> Served<u32> {
        for i in 0..points.len() {
            let p = points.read_at(i)?;
            points.write_at(i, Point { x: p.y, y: p.x })?;
        }
        // Reaching past the end is the client's fault (its arguments or
        // lease were wrong): `?` turns it into a BadLeases fault.
        if points.len() == 3 {
            points.read_at(3)?;
        }
        Ok(points.len() as u32)
    }
}

/// A kernel with an `Everything` server installed.
pub fn everything_system() -> (Rc<MockKernel>, Rc<RefCell<Everything>>) {
    system(EVERYTHING_BUFFER_SIZE, |s, k, buffer, msg| {
        everything_dispatch(s, k, buffer, msg)
    })
}
