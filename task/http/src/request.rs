//! Reading an HTTP/1.x request head (RFC 9112 §2–§3): the request line and
//! the header fields up to the empty line. Bodies are not read: the server
//! only answers GET and HEAD.

/// Longest request head the server accepts; a longer one is answered 413
/// ("Content Too Large") and the connection closed.
pub const MAX_HEAD: usize = 2048;

/// A request the server understood.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method, as sent.
    pub method: &'a str,
    /// The request target's path and query (origin form, `/…`; from an
    /// absolute-form target, `http://host/…`, the part after the host;
    /// or `*`).
    pub target: &'a str,
}

/// Why a request head is refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not yet a whole head: read more.
    Incomplete,
    /// Malformed (400).
    BadRequest,
    /// Longer than [`MAX_HEAD`] (413).
    TooLarge,
}

/// Where the head in `buf` ends (just past the empty line), if it does.
/// Accepts bare LF line ends as RFC 9112 §2.2 allows.
pub fn head_len(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1..].starts_with(b"\r\n") {
                return Some(i + 3);
            }
            if buf[i + 1..].starts_with(b"\n") {
                return Some(i + 2);
            }
        }
        i += 1;
    }
    None
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The path and query of an absolute-form target (`http://host:port/p?q`
/// gives `/p?q`; `http://host` gives `/`, RFC 9110 §4.2.3; so does
/// `http://host?q`, whose query no path of this server would use), or
/// `None` if `target` is not one. The scheme is case-insensitive; only
/// `http` and `https` are recognised.
fn absolute_path(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    if end == 0 {
        return None; // no host
    }
    match &rest[end..] {
        path if path.starts_with('/') => Some(path),
        _ => Some("/"),
    }
}

/// Parses the head at the start of `buf` (which holds what was read so
/// far, at most [`MAX_HEAD`] bytes are looked at).
pub fn parse(buf: &[u8]) -> Result<Request<'_>, Reject> {
    let Some(len) = head_len(&buf[..buf.len().min(MAX_HEAD)]) else {
        return Err(if buf.len() >= MAX_HEAD {
            Reject::TooLarge
        } else if buf.contains(&0) {
            Reject::BadRequest
        } else {
            Reject::Incomplete
        });
    };
    let head = core::str::from_utf8(&buf[..len]).map_err(|_| Reject::BadRequest)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().ok_or(Reject::BadRequest)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::BadRequest);
    };
    // RFC 9112 §3.2.2: a server must accept the absolute form, which
    // clients send through a proxy.
    let target = match absolute_path(target) {
        Some(path) => path,
        None => target,
    };
    if !is_token(method)
        || !(target.starts_with('/') || target == "*")
        || target.bytes().any(|b| b <= b' ' || b == 0x7f)
        || !(version == "HTTP/1.1" || version == "HTTP/1.0")
    {
        return Err(Reject::BadRequest);
    }
    for field in lines.take_while(|l| !l.is_empty()) {
        // field-name ":" OWS field-value OWS (§5); no obsolete folding.
        let Some((name, _value)) = field.split_once(':') else {
            return Err(Reject::BadRequest);
        };
        if !is_token(name) {
            return Err(Reject::BadRequest);
        }
    }
    Ok(Request { method, target })
}

#[cfg(test)]
mod tests {
    use super::{parse, Reject, Request, MAX_HEAD};

    #[test]
    fn well_formed_requests() {
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"),
            Ok(Request {
                method: "GET",
                target: "/"
            })
        );
        assert_eq!(
            parse(b"HEAD /api/status?x=1 HTTP/1.0\n\n"),
            Ok(Request {
                method: "HEAD",
                target: "/api/status?x=1"
            })
        );
    }

    #[test]
    fn absolute_form_targets_are_their_path() {
        for (target, path) in [
            ("http://127.0.0.1:8080/api/status", "/api/status"),
            ("HTTP://example.org/?x=1", "/?x=1"),
            ("https://example.org", "/"),
            ("http://example.org?x", "/"),
        ] {
            let head = format!("GET {target} HTTP/1.1\r\n\r\n");
            assert_eq!(
                parse(head.as_bytes()),
                Ok(Request {
                    method: "GET",
                    target: path
                }),
                "{target}"
            );
        }
        for bad in ["http:///x", "ftp://example.org/", "http//x/"] {
            let head = format!("GET {bad} HTTP/1.1\r\n\r\n");
            assert_eq!(parse(head.as_bytes()), Err(Reject::BadRequest), "{bad}");
        }
    }

    #[test]
    fn partial_heads_ask_for_more() {
        assert_eq!(parse(b""), Err(Reject::Incomplete));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            Err(Reject::Incomplete)
        );
    }

    #[test]
    fn malformed_heads_are_bad_requests() {
        for bad in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET /\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"\x00\x01\x02",
        ] {
            assert_eq!(parse(bad), Err(Reject::BadRequest), "{bad:?}");
        }
    }

    #[test]
    fn oversized_heads_are_too_large() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(parse(&big), Err(Reject::TooLarge));
    }
}
