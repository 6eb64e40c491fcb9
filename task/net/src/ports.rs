//! Which task may bind which port: the `ports` key of the stack's `config`
//! in app.toml, e.g. `ports = "echo:tcp/7 echo:udp/7 http:tcp/80"`.
//!
//! A port is a name other hosts reach a service by, so taking one is
//! authority, and authority comes only from app.toml: a client may open a
//! UDP socket or a TCP listener only on a port granted to it here, and a
//! port is granted to one task at most. Without the key no task may bind
//! anything. A client that could take any free port could wait for the
//! page server to restart and answer port 80 in its place.
//!
//! The stack's build script parses the key with this very module (it
//! includes the file) and fails the build on a mistake, naming it; the
//! task gets the result as a table of task indices. This module must never
//! grant anything the text does not say.

/// A transport protocol with ports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Proto {
    /// TCP: a listener.
    Tcp,
    /// UDP: a bound socket.
    Udp,
}

/// One port granted to one task.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The task's index in the image.
    pub task: u16,
    /// TCP or UDP.
    pub proto: Proto,
    /// The port (never 0).
    pub port: u16,
}

/// What is wrong with a `ports` entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BadGrant<'a> {
    /// Not `task:proto/port`, or a port that is not 1 to 65535.
    Malformed(&'a str),
    /// A protocol other than `tcp` or `udp`.
    Protocol(&'a str),
    /// No task of that name in the image.
    NoSuchTask(&'a str),
    /// The same protocol and port granted twice (to whom, the second time).
    Twice(&'a str),
}

impl core::fmt::Display for BadGrant<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BadGrant::Malformed(e) => write!(
                f,
                "`{e}` is not `task:tcp/port` or `task:udp/port` with a port from 1 to 65535"
            ),
            BadGrant::Protocol(e) => write!(f, "`{e}`: the protocol is `tcp` or `udp`"),
            BadGrant::NoSuchTask(e) => write!(f, "`{e}`: no task of that name in the image"),
            BadGrant::Twice(e) => write!(
                f,
                "`{e}`: that protocol and port is already granted (a port has one owner)"
            ),
        }
    }
}

/// Parses `text` (entries separated by spaces or commas), naming tasks by
/// `index_of`; calls `grant` for each entry, after checking it against
/// every earlier one.
pub fn parse<'a>(
    text: &'a str,
    index_of: impl Fn(&str) -> Option<u16>,
    mut grant: impl FnMut(Grant),
) -> Result<(), BadGrant<'a>> {
    let entries = || {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
    };
    for (n, entry) in entries().enumerate() {
        let g = parse_entry(entry, &index_of)?;
        let taken = entries()
            .take(n)
            .filter_map(|e| parse_entry(e, &index_of).ok())
            .any(|e| e.proto == g.proto && e.port == g.port);
        if taken {
            return Err(BadGrant::Twice(entry));
        }
        grant(g);
    }
    Ok(())
}

fn parse_entry<'a>(
    entry: &'a str,
    index_of: &impl Fn(&str) -> Option<u16>,
) -> Result<Grant, BadGrant<'a>> {
    let (task, service) = entry.split_once(':').ok_or(BadGrant::Malformed(entry))?;
    let (proto, port) = service.split_once('/').ok_or(BadGrant::Malformed(entry))?;
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return Err(BadGrant::Protocol(entry)),
    };
    let port = match port.parse::<u16>() {
        Ok(p) if p != 0 => p,
        _ => return Err(BadGrant::Malformed(entry)),
    };
    let task = index_of(task).ok_or(BadGrant::NoSuchTask(entry))?;
    Ok(Grant { task, proto, port })
}

/// Whether `grants` let task `task` bind `port` for `proto`.
pub fn allows(grants: &[Grant], task: u16, proto: Proto, port: u16) -> bool {
    grants
        .iter()
        .any(|g| g.task == task && g.proto == proto && g.port == port)
}

#[cfg(test)]
mod tests {
    use super::{allows, parse, BadGrant, Grant, Proto};

    fn index_of(name: &str) -> Option<u16> {
        ["supervisor", "net", "echo", "http"]
            .iter()
            .position(|n| *n == name)
            .map(|i| i as u16)
    }

    fn grants(text: &str) -> Result<Vec<Grant>, BadGrant<'_>> {
        let mut v = Vec::new();
        parse(text, index_of, |g| v.push(g))?;
        Ok(v)
    }

    #[test]
    fn entries_name_task_protocol_and_port() {
        let g = grants(" echo:tcp/7 echo:udp/7,http:tcp/80\n").unwrap();
        assert_eq!(
            g,
            [
                Grant {
                    task: 2,
                    proto: Proto::Tcp,
                    port: 7
                },
                Grant {
                    task: 2,
                    proto: Proto::Udp,
                    port: 7
                },
                Grant {
                    task: 3,
                    proto: Proto::Tcp,
                    port: 80
                },
            ]
        );
        assert_eq!(grants("").unwrap(), []);
    }

    #[test]
    fn only_what_is_granted_is_allowed() {
        let g = grants("echo:tcp/7 echo:udp/7 http:tcp/80").unwrap();
        assert!(allows(&g, 2, Proto::Tcp, 7));
        assert!(allows(&g, 2, Proto::Udp, 7));
        assert!(allows(&g, 3, Proto::Tcp, 80));
        // Another task, another protocol, another port.
        assert!(!allows(&g, 3, Proto::Tcp, 7));
        assert!(!allows(&g, 2, Proto::Tcp, 80));
        assert!(!allows(&g, 3, Proto::Udp, 80));
        assert!(!allows(&g, 2, Proto::Tcp, 8));
        assert!(!allows(&g, 1, Proto::Tcp, 7));
        assert!(!allows(&[], 2, Proto::Tcp, 7), "no key: nothing");
    }

    #[test]
    fn mistakes_are_named() {
        for (text, err) in [
            ("echo", BadGrant::Malformed("echo")),
            ("echo:tcp", BadGrant::Malformed("echo:tcp")),
            ("echo:tcp/0", BadGrant::Malformed("echo:tcp/0")),
            ("echo:tcp/65536", BadGrant::Malformed("echo:tcp/65536")),
            ("echo:tcp/x", BadGrant::Malformed("echo:tcp/x")),
            ("echo:sctp/7", BadGrant::Protocol("echo:sctp/7")),
            ("echo:TCP/7", BadGrant::Protocol("echo:TCP/7")),
            ("nobody:tcp/7", BadGrant::NoSuchTask("nobody:tcp/7")),
            ("echo:tcp/7 http:tcp/7", BadGrant::Twice("http:tcp/7")),
            ("echo:udp/7 echo:udp/7", BadGrant::Twice("echo:udp/7")),
        ] {
            assert_eq!(grants(text), Err(err), "{text}");
            let shown = err.to_string();
            assert!(shown.contains('`'), "{shown}");
        }
        // The same port for the other protocol is another grant.
        assert!(grants("echo:tcp/7 http:udp/7").is_ok());
    }
}
