//! Reading an HTTP/1.x request head (RFC 9112 §2–§3): the request line and
//! the header fields up to the empty line. Bodies are not read: the server
//! only answers GET and HEAD.

/// Longest request head the server accepts; a longer one is answered 431
/// ("Request Header Fields Too Large", RFC 6585: the head is all a GET
/// sends, so it is its header fields that are too large, not content), or
/// 414 ("URI Too Long") if its request line alone is that long, and the
/// connection closed.
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
    /// Longer than [`MAX_HEAD`] (431).
    TooLarge,
    /// Its request line alone fills [`MAX_HEAD`]: in a GET that is the
    /// target (414, RFC 9112 §3: "URI Too Long").
    UriTooLong,
    /// Well formed, but in an HTTP major version other than 1 (505).
    VersionNotSupported,
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

/// The bytes of empty lines (CRLF or LF) before the request line, which a
/// server should ignore (RFC 9112 §2.2: a client may send one after a
/// body it was not asked for).
fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf[i..] {
            [b'\r', b'\n', ..] => i += 2,
            [b'\n', ..] => i += 1,
            _ => return i,
        }
    }
}

/// The (major, minor) of an `HTTP-version` (RFC 9112 §2.3: `HTTP/` and a
/// digit each side of a dot), if `version` is one.
fn http_version(version: &str) -> Option<(u8, u8)> {
    match version.as_bytes() {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some((major - b'0', minor - b'0'))
        }
        _ => None,
    }
}

/// Whether a Host field value (RFC 9110 §7.2: `uri-host [ ":" port ]`,
/// empty when the target has no authority) has only the characters a
/// host and port can: a reg-name, an IPv4 or bracketed IPv6 address.
fn valid_host(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b))
}

/// Whether every `%` in `target` starts a pct-encoded octet (RFC 3986
/// §2.1: `%` and two hex digits); a lone `%` makes the target invalid.
fn percent_encoding_well_formed(target: &str) -> bool {
    let b = target.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match b.get(i + 1..i + 3) {
                Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

/// Whether the path `path` (a well-formed target's, without its query)
/// is `page`, where a percent-encoded unreserved character stands for
/// itself (RFC 3986 §2.3 and §6.2.2.2: `/%61pi/status` is `/api/status`).
/// An encoded reserved character (`%2F`) is not its plain form.
fn path_is(path: &str, page: &str) -> bool {
    let mut path = path.bytes();
    let mut page = page.bytes();
    loop {
        let got = match path.next() {
            Some(b'%') => {
                let hex = |c: Option<u8>| c.and_then(|c| (c as char).to_digit(16));
                match (hex(path.next()), hex(path.next())) {
                    (Some(h), Some(l)) => {
                        let c = (h * 16 + l) as u8;
                        if !(c.is_ascii_alphanumeric() || b"-._~".contains(&c)) {
                            return false;
                        }
                        Some(c)
                    }
                    _ => return false,
                }
            }
            other => other,
        };
        match (got, page.next()) {
            (None, None) => return true,
            (a, b) if a == b => {}
            _ => return false,
        }
    }
}

/// Parses the head at the start of `buf` (which holds what was read so
/// far, at most [`MAX_HEAD`] bytes are looked at).
pub fn parse(buf: &[u8]) -> Result<Request<'_>, Reject> {
    let buf = &buf[..buf.len().min(MAX_HEAD)];
    let skip = leading_empty_lines(buf);
    let Some(len) = head_len(&buf[skip..]) else {
        return Err(if buf.len() >= MAX_HEAD {
            // No line end at all after the empty lines: the request line
            // is what is too long, and a client is told so (a 3,000-byte
            // URL was answered 431, about header fields it did not send).
            let rest = &buf[skip..];
            if !rest.is_empty() && !rest.contains(&b'\n') {
                Reject::UriTooLong
            } else {
                Reject::TooLarge
            }
        } else if buf.contains(&0) {
            Reject::BadRequest
        } else {
            Reject::Incomplete
        });
    };
    let head = core::str::from_utf8(&buf[skip..skip + len]).map_err(|_| Reject::BadRequest)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().ok_or(Reject::BadRequest)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::BadRequest);
    };
    // (A `#` may not appear: a fragment is never sent, RFC 9112 §3.2.)
    // RFC 9112 §3.2.2: a server must accept the absolute form, which
    // clients send through a proxy.
    let target = match absolute_path(target) {
        Some(path) => path,
        None => target,
    };
    let Some((major, minor)) = http_version(version) else {
        return Err(Reject::BadRequest);
    };
    if !is_token(method)
        || !(target.starts_with('/') || target == "*")
        || target.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#')
        || !percent_encoding_well_formed(target)
    {
        return Err(Reject::BadRequest);
    }
    if major != 1 {
        return Err(Reject::VersionNotSupported);
    }
    let mut hosts = 0;
    for field in lines.take_while(|l| !l.is_empty()) {
        // field-name ":" OWS field-value OWS (§5); no obsolete folding.
        let Some((name, value)) = field.split_once(':') else {
            return Err(Reject::BadRequest);
        };
        if !is_token(name) {
            return Err(Reject::BadRequest);
        }
        if name.eq_ignore_ascii_case("host") {
            if !valid_host(value.trim_matches([' ', '\t'])) {
                return Err(Reject::BadRequest);
            }
            hosts += 1;
        }
    }
    // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request
    // without a Host field or with more than one (HTTP/1.0 had none; a
    // later 1.x minor is read as 1.1, RFC 9110 §2.5).
    if hosts > 1 || (minor >= 1 && hosts == 0) {
        return Err(Reject::BadRequest);
    }
    Ok(Request { method, target })
}

/// Content type of the status page (`/`); `/api/status` is JSON.
pub const HTML: &str = "text/html; charset=utf-8";

/// The pages the server has, and the methods it answers them with.
///
/// The status code and content type of the answer to `method` on
/// `target` (a parsed request's): 200 for GET or HEAD of `/` (HTML) and
/// `/api/status` (JSON), 404 for any other path; 405 for a method of RFC
/// 9110 §9 other than those (the answer names GET and HEAD, §15.5.6);
/// 501 for a method the server does not know at all (§15.6.2: methods
/// are case-sensitive, so `get` is one).
pub fn route(method: &str, target: &str) -> (u16, &'static str) {
    const STANDARD: [&str; 7] = [
        "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", p) if path_is(p, "/") => (200, HTML),
        ("GET" | "HEAD", p) if path_is(p, "/api/status") => (200, "application/json"),
        ("GET" | "HEAD", _) => (404, "text/plain"),
        (m, _) if STANDARD.contains(&m) => (405, "text/plain"),
        _ => (501, "text/plain"),
    }
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
            let head = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
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
            let head = format!("GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(parse(head.as_bytes()), Err(Reject::BadRequest), "{bad}");
        }
    }

    #[test]
    fn hosts_and_versions() {
        let ok = Ok(Request {
            method: "GET",
            target: "/",
        });
        // HTTP/1.0 needs no Host; an empty one, a port, an IPv6 literal
        // are hosts; a later 1.x minor is read as 1.1.
        assert_eq!(parse(b"GET / HTTP/1.0\r\n\r\n"), ok);
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), ok);
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHOST: 127.0.0.1:8080 \r\n\r\n"),
            ok
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost:\t[::1]:80\r\n\r\n"), ok);
        assert_eq!(parse(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"), ok);
        for other in [&b"GET / HTTP/2.0\r\n\r\n"[..], b"GET / HTTP/0.9\r\n\r\n"] {
            assert_eq!(parse(other), Err(Reject::VersionNotSupported), "{other:?}");
        }
    }

    #[test]
    fn empty_lines_before_the_request_are_ignored() {
        let ok = Ok(Request {
            method: "GET",
            target: "/",
        });
        assert_eq!(parse(b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), ok);
        assert_eq!(parse(b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), ok);
        assert_eq!(parse(b"\r\n\r\n"), Err(Reject::Incomplete));
        let mut only_empty = b"\r\n".repeat(MAX_HEAD);
        assert_eq!(parse(&only_empty), Err(Reject::TooLarge));
        only_empty.truncate(MAX_HEAD - 2);
        assert_eq!(parse(&only_empty), Err(Reject::Incomplete));
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
            b"GET / HTTP/1.10\r\nHost: h\r\n\r\n",
            b"GET / http/1.1\r\nHost: h\r\n\r\n",
            b"GET nopath HTTP/1.1\r\nHost: h\r\n\r\n",
            b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n",
            // Control bytes in the target; a version that is not digits.
            b"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/x.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.x\r\nHost: h\r\n\r\n",
            b"GET / HTTP/11\r\nHost: h\r\n\r\n",
            // RFC 9112 §3.2: no Host, two, or one that is no host.
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: a/b\r\n\r\n",
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

    /// A request line that fills the head is a target too long (414), not
    /// header fields (431); after empty lines too. Header fields that fill
    /// it after a whole request line stay 431.
    #[test]
    fn a_request_line_that_fills_the_head_is_a_uri_too_long() {
        let mut long = b"GET /".to_vec();
        long.resize(MAX_HEAD + 1000, b'a');
        assert_eq!(parse(&long), Err(Reject::UriTooLong));
        let mut after_empty = b"\r\n\r\nGET /".to_vec();
        after_empty.resize(MAX_HEAD, b'a');
        assert_eq!(parse(&after_empty), Err(Reject::UriTooLong));
        let mut headers = b"GET /a HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        headers.resize(MAX_HEAD, b'a');
        assert_eq!(parse(&headers), Err(Reject::TooLarge));
        // Short of the limit it is only incomplete.
        long.truncate(MAX_HEAD - 1);
        assert_eq!(parse(&long), Err(Reject::Incomplete));
    }

    #[test]
    fn each_method_and_path_gets_its_answer() {
        use super::{route, HTML};
        assert_eq!(route("GET", "/"), (200, HTML));
        assert_eq!(route("HEAD", "/api/status?x=1"), (200, "application/json"));
        assert_eq!(route("GET", "/api/status/").0, 404);
        assert_eq!(route("GET", "*").0, 404);
        for m in [
            "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT",
        ] {
            assert_eq!(route(m, "/").0, 405, "{m}");
        }
        for m in ["get", "FOO", "BREW", "PROPFIND"] {
            assert_eq!(route(m, "/").0, 501, "{m}");
        }
    }

    #[test]
    fn encoded_unreserved_characters_are_themselves() {
        use super::route;
        for path in [
            "/%61pi/status",
            "/api%2fstatus",
            "/%41PI/status",
            "/api/status%",
            "/%2",
        ] {
            let want = if path == "/%61pi/status" { 200 } else { 404 };
            assert_eq!(route("GET", path).0, want, "{path}");
        }
        assert_eq!(route("GET", "/api/st%61tus?x=%41").0, 200);
        assert_eq!(route("GET", "/%7e").0, 404); // `~` itself, but no such page
        for bad in ["/%", "/%4", "/%zz", "/a%g0", "/ab%41%z"] {
            let head = format!("GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(parse(head.as_bytes()), Err(Reject::BadRequest), "{bad}");
        }
        let head = b"GET /%61pi/status HTTP/1.1\r\nHost: h\r\n\r\n";
        assert!(parse(head).is_ok());
    }

    #[test]
    fn a_fragment_in_the_target_is_a_bad_request() {
        assert_eq!(
            parse(b"GET /api/status#x HTTP/1.1\r\nHost: h\r\n\r\n"),
            Err(Reject::BadRequest)
        );
    }
}
