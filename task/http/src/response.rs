//! The head of every answer the server writes: its status line and
//! headers, and the whole of an error answer (its reason as the body).
//!
//! Every answer is made for one request and closes its connection:
//! `Connection: close`, and a `Content-Length` that says where the body
//! ends.

use core::fmt::{self, Write};

/// The reason phrase of status `code`.
pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Writes the head of an answer with status `code`, a body of `ctype`
/// and `body_len` bytes (its length even for a HEAD request, which gets
/// no body).
pub fn head(out: &mut impl Write, code: u16, ctype: &str, body_len: usize) -> fmt::Result {
    write!(
        out,
        "HTTP/1.1 {code} {}\r\nContent-Type: {ctype}\r\nContent-Length: {body_len}\r\n\
         {}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason(code),
        // RFC 9110 §15.5.6: a 405 names the methods that are allowed.
        if code == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        },
    )
}

/// Writes a whole error answer with status `code`: its reason phrase is
/// the body.
pub fn error(out: &mut impl Write, code: u16) -> fmt::Result {
    let text = reason(code);
    head(out, code, "text/plain", text.len() + 1)?;
    writeln!(out, "{text}")
}

#[cfg(test)]
mod tests {
    use super::{error, head};
    use crate::conn::GAVE_UP;
    use crate::request;

    /// The head's lines and the body of a whole answer, its
    /// `Content-Length` checked against the body.
    fn split(answer: &str) -> (Vec<&str>, &str) {
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
        let lines: Vec<&str> = head.split("\r\n").collect();
        let len = lines
            .iter()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("a Content-Length");
        assert_eq!(len.parse::<usize>().unwrap(), body.len(), "{answer:?}");
        (lines, body)
    }

    /// Every answer the server makes: the routed ones (a page, JSON, and
    /// the errors `route` gives), the errors of a head it refuses, and
    /// the 408 to a connection that gave its place up.
    fn every_answer() -> Vec<(u16, String)> {
        let mut answers = Vec::new();
        for (method, target) in [
            ("GET", "/"),
            ("GET", "/api/status"),
            ("GET", "/nowhere"),
            ("POST", "/"),
            ("BREW", "/"),
        ] {
            let (code, ctype) = request::route(method, target);
            let mut a = String::new();
            head(&mut a, code, ctype, 3).unwrap();
            a.push_str("abc");
            answers.push((code, a));
        }
        for code in [400, 414, 431, 505] {
            let mut a = String::new();
            error(&mut a, code).unwrap();
            answers.push((code, a));
        }
        answers.push((408, String::from_utf8(GAVE_UP.to_vec()).unwrap()));
        answers
    }

    /// Every answer is made for its request and the moment (the status
    /// page, or an error about this request): no cache may keep one and
    /// hand it out again. Error answers had no `Cache-Control` (400, 431,
    /// 505, and the 408), the page and the routed errors did.
    #[test]
    fn every_answer_is_whole_closes_and_is_not_stored() {
        let answers = every_answer();
        let codes: Vec<u16> = answers.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, [200, 200, 404, 405, 501, 400, 414, 431, 505, 408]);
        for (code, answer) in &answers {
            let (lines, _) = split(answer);
            assert!(
                lines[0].starts_with(&format!("HTTP/1.1 {code} ")),
                "{answer:?}"
            );
            for header in ["Cache-Control: no-store", "Connection: close"] {
                assert!(lines.contains(&header), "{code} lacks {header}: {answer:?}");
            }
            assert_eq!(
                lines.contains(&"Allow: GET, HEAD"),
                *code == 405,
                "{answer:?}"
            );
        }
    }

    #[test]
    fn an_error_answer_is_its_reason() {
        let mut a = String::new();
        error(&mut a, 431).unwrap();
        let (lines, body) = split(&a);
        assert_eq!(lines[0], "HTTP/1.1 431 Request Header Fields Too Large");
        assert_eq!(body, "Request Header Fields Too Large\n");
        assert!(lines.contains(&"Content-Type: text/plain"));
    }
}
