//! The status snapshot the server shows, and its two renderings: a page
//! that refreshes itself, and JSON at `/api/status`.
//!
//! Text that comes from elsewhere (task names from app.toml, fault and
//! state words) is escaped for its context — HTML or a JSON string — so
//! nothing in a snapshot can change the document's structure.
//!
//! Bidi format characters (U+202A..U+202E, U+2066..U+2069, the marks),
//! which the shell hides from the terminal because they reorder what
//! follows, are left as they are: no text on the page comes from a
//! driver or a device (task names are ASCII identifiers, the image
//! builder refuses others; every other word is this server's own). Were
//! one to arrive, in HTML it reorders only its own table cell (a cell is
//! its own bidi paragraph), and in JSON it is valid as it is (RFC 8259
//! escapes only U+0000..U+001F) and is data to the reader.

use core::fmt::{self, Write};

/// How often the page reloads itself, in seconds.
pub const REFRESH_S: u32 = 2;

/// A task name (at most 16 bytes, as the kernel keeps it).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; 16],
    len: u8,
}

impl Name {
    /// The name in `raw`, up to its first NUL; bytes that are not UTF-8
    /// make it "?".
    pub fn from_nul_padded(raw: &[u8; 16]) -> Name {
        let text = abi::nul_padded_str(raw).as_bytes();
        let mut n = Name {
            bytes: [0; 16],
            len: text.len() as u8,
        };
        n.bytes[..text.len()].copy_from_slice(text);
        n
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

/// One row of the task table.
#[derive(Copy, Clone, Debug, Default)]
pub struct TaskRow {
    /// Name from app.toml.
    pub name: Name,
    /// State in words.
    pub state: &'static str,
    /// Priority (0 is the most important).
    pub priority: u32,
    /// Current generation.
    pub generation: u32,
    /// Faults since boot.
    pub faults: u32,
    /// The last fault in words ("" if none).
    pub last_fault: &'static str,
    /// Times the kernel held it off the CPU for its CPU share, since boot.
    pub throttles: u32,
}

/// One row of the device table.
#[derive(Copy, Clone, Debug, Default)]
pub struct DeviceRow {
    /// virtio-mmio slot.
    pub slot: u32,
    /// Device class in words ("network", "block", …).
    pub class: &'static str,
    /// Transport version (1 legacy, 2 modern).
    pub transport: u32,
    /// Binding state in words.
    pub state: &'static str,
    /// The bound driver's name, if any.
    pub driver: Option<Name>,
}

/// A restart from the supervisor's log (its `restart_record`).
#[derive(Copy, Clone, Debug, Default)]
pub struct RestartRow {
    /// Which task.
    pub name: Name,
    /// The generation it was restarted as.
    pub generation: u32,
    /// When, in ms since boot.
    pub at_ms: u64,
    /// Why, in words ("fault", "operator", …).
    pub cause: &'static str,
}

/// The network stack's counts (its `info`, as the shell's `net` prints
/// them).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct NetRow {
    /// Frames received from the NIC.
    pub rx_frames: u32,
    /// Frames sent to the NIC.
    pub tx_frames: u32,
    /// Times the NIC driver was seen restarted.
    pub nic_restarts: u32,
    /// UDP send queues dropped for a neighbour that never answered.
    pub udp_queues_dropped: u32,
    /// Datagrams that came in IPv4 fragments and were put back together.
    pub datagrams_reassembled: u32,
    /// Fragmented datagrams dropped for being longer than the stack takes.
    pub datagrams_too_big: u32,
    /// Fragmented datagrams given up otherwise (incomplete in time,
    /// pushed out, malformed, TCP).
    pub reassemblies_dropped: u32,
}

/// Everything one page shows.
pub struct Snapshot<'a> {
    /// Milliseconds since boot.
    pub uptime_ms: u64,
    /// Every task of the image, in table order.
    pub tasks: &'a [TaskRow],
    /// Every populated virtio slot.
    pub devices: &'a [DeviceRow],
    /// Recent restarts, oldest first.
    pub restarts: &'a [RestartRow],
    /// The network stack's counts; `None` if it did not answer.
    pub net: Option<NetRow>,
}

/// `s`, escaped for HTML text and attribute values.
pub struct Html<'a>(pub &'a str);

impl fmt::Display for Html<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '&' => f.write_str("&amp;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `s` as a JSON string, quotes included (RFC 8259 §7).
pub struct Json<'a>(pub &'a str);

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

fn uptime(ms: u64) -> (u64, u64, u64, u64) {
    let s = ms / 1000;
    (s / 3600, s / 60 % 60, s % 60, ms % 1000)
}

/// The status page.
pub fn html(s: &Snapshot<'_>, o: &mut impl Write) -> fmt::Result {
    let (h, m, sec, _) = uptime(s.uptime_ms);
    write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">\
         <title>Vireo status</title><style>\
         body{{font-family:sans-serif;margin:2em;background:#fafaf7;color:#222}}\
         table{{border-collapse:collapse;margin-bottom:1.5em}}\
         th,td{{border:1px solid #ccc;padding:.25em .7em;text-align:left}}\
         th{{background:#e8efe3}}td.n{{text-align:right}}\
         .faulted{{color:#a40000;font-weight:bold}}</style></head><body>\
         <h1>Vireo</h1><p>Uptime <b id=\"uptime\">{h}:{m:02}:{sec:02}</b>; \
         this page refreshes every {REFRESH_S} s (JSON: <a href=\"/api/status\">/api/status</a>).</p>\
         <h2>Tasks</h2><table id=\"tasks\"><tr><th>#</th><th>task</th><th>state</th>\
         <th>priority</th><th>generation</th><th>faults</th><th>last fault</th>\
         <th>throttled</th></tr>"
    )?;
    for (i, t) in s.tasks.iter().enumerate() {
        let class = if t.state == "faulted" {
            " class=\"faulted\""
        } else {
            ""
        };
        write!(
            o,
            "<tr{class}><td class=\"n\">{i}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            Html(t.name.as_str()),
            Html(t.state),
            t.priority,
            t.generation,
            t.faults,
            Html(t.last_fault),
            t.throttles
        )?;
    }
    o.write_str(
        "</table><h2>Devices</h2><table id=\"devices\"><tr><th>slot</th><th>class</th>\
         <th>transport</th><th>state</th><th>driver</th></tr>",
    )?;
    for d in s.devices {
        write!(
            o,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>v{}</td><td>{}</td><td>{}</td></tr>",
            d.slot,
            Html(d.class),
            d.transport,
            Html(d.state),
            Html(d.driver.as_ref().map_or("-", Name::as_str))
        )?;
    }
    o.write_str("</table><h2>Recent restarts</h2>")?;
    if s.restarts.is_empty() {
        o.write_str("<p id=\"restarts\">none since boot</p>")?;
    } else {
        o.write_str(
            "<table id=\"restarts\"><tr><th>at</th><th>task</th><th>generation</th><th>why</th></tr>",
        )?;
        for r in s.restarts.iter().rev() {
            let (h, m, sec, ms) = uptime(r.at_ms);
            write!(
                o,
                "<tr><td>{h}:{m:02}:{sec:02}.{ms:03}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                Html(r.name.as_str()),
                r.generation,
                Html(r.cause)
            )?;
        }
        o.write_str("</table>")?;
    }
    o.write_str("</body></html>\n")
}

/// The same as JSON, with the network stack's counts besides (`net`,
/// null if the stack did not answer).
pub fn json(s: &Snapshot<'_>, o: &mut impl Write) -> fmt::Result {
    write!(o, "{{\"uptime_ms\":{},\"tasks\":", s.uptime_ms)?;
    json_array(o, s.tasks.iter().enumerate(), |o, (i, t)| {
        write!(
            o,
            "{{\"index\":{i},\"name\":{},\"state\":{},\"priority\":{},\"generation\":{},\
             \"faults\":{},\"throttles\":{},\"last_fault\":",
            Json(t.name.as_str()),
            Json(t.state),
            t.priority,
            t.generation,
            t.faults,
            t.throttles
        )?;
        if t.last_fault.is_empty() {
            o.write_str("null}")
        } else {
            write!(o, "{}}}", Json(t.last_fault))
        }
    })?;
    o.write_str(",\"devices\":")?;
    json_array(o, s.devices.iter(), |o, d| {
        write!(
            o,
            "{{\"slot\":{},\"class\":{},\"transport\":{},\"state\":{},\"driver\":",
            d.slot,
            Json(d.class),
            d.transport,
            Json(d.state)
        )?;
        match &d.driver {
            Some(n) => write!(o, "{}}}", Json(n.as_str())),
            None => o.write_str("null}"),
        }
    })?;
    o.write_str(",\"restarts\":")?;
    json_array(o, s.restarts.iter(), |o, r| {
        write!(
            o,
            "{{\"task\":{},\"generation\":{},\"at_ms\":{},\"cause\":{}}}",
            Json(r.name.as_str()),
            r.generation,
            r.at_ms,
            Json(r.cause)
        )
    })?;
    o.write_str(",\"net\":")?;
    match &s.net {
        Some(n) => write!(
            o,
            "{{\"rx_frames\":{},\"tx_frames\":{},\"nic_restarts\":{},\
             \"udp_queues_dropped\":{},\"datagrams_reassembled\":{},\
             \"datagrams_too_big\":{},\"reassemblies_dropped\":{}}}",
            n.rx_frames,
            n.tx_frames,
            n.nic_restarts,
            n.udp_queues_dropped,
            n.datagrams_reassembled,
            n.datagrams_too_big,
            n.reassemblies_dropped
        )?,
        None => o.write_str("null")?,
    }
    o.write_str("}")
}

/// A JSON array: `[`, each item as `item` writes it, separated by commas,
/// `]`.
fn json_array<O: Write, T>(
    o: &mut O,
    items: impl Iterator<Item = T>,
    mut item: impl FnMut(&mut O, T) -> fmt::Result,
) -> fmt::Result {
    o.write_char('[')?;
    for (i, t) in items.enumerate() {
        if i > 0 {
            o.write_char(',')?;
        }
        item(o, t)?;
    }
    o.write_char(']')
}

#[cfg(test)]
mod tests {
    use super::{html, json, DeviceRow, Name, NetRow, RestartRow, Snapshot, TaskRow};

    fn name(s: &str) -> Name {
        let mut raw = [0u8; 16];
        raw[..s.len()].copy_from_slice(s.as_bytes());
        Name::from_nul_padded(&raw)
    }

    fn snapshot_text(f: fn(&Snapshot<'_>, &mut String) -> core::fmt::Result) -> String {
        let tasks = [
            TaskRow {
                name: name("supervisor"),
                state: "runnable",
                priority: 0,
                generation: 0,
                faults: 0,
                last_fault: "",
                throttles: 0,
            },
            TaskRow {
                name: name("<b>\"x\\"),
                state: "faulted",
                priority: 3,
                generation: 2,
                faults: 2,
                last_fault: "illegal instruction",
                throttles: 41,
            },
        ];
        let devices = [DeviceRow {
            slot: 5,
            class: "network",
            transport: 1,
            state: "bound",
            driver: Some(name("net0")),
        }];
        let restarts = [
            RestartRow {
                name: name("net"),
                generation: 3,
                at_ms: 20_250,
                cause: "operator",
            },
            RestartRow {
                name: name("net0"),
                generation: 1,
                at_ms: 61_005,
                cause: "<fault>",
            },
        ];
        let s = Snapshot {
            uptime_ms: 3_723_000,
            tasks: &tasks,
            devices: &devices,
            restarts: &restarts,
            net: Some(NetRow {
                rx_frames: 120,
                tx_frames: 90,
                nic_restarts: 1,
                udp_queues_dropped: 0,
                datagrams_reassembled: 7,
                datagrams_too_big: 3,
                reassemblies_dropped: 2,
            }),
        };
        let mut out = String::new();
        f(&s, &mut out).unwrap();
        out
    }

    #[test]
    fn the_page_shows_every_table_escaped_and_refreshes() {
        let page = snapshot_text(html);
        assert!(page.contains("http-equiv=\"refresh\""));
        assert!(page.contains("1:02:03"), "uptime");
        assert!(page.contains("<td>supervisor</td>"));
        assert!(
            page.contains("<td>illegal instruction</td><td class=\"n\">41</td></tr>"),
            "the throttle count, after the last fault"
        );
        assert!(page.contains("&lt;b&gt;&quot;x\\"), "escaped name");
        assert!(!page.contains("<b>\"x"), "no raw markup from a name");
        assert!(page.contains("<td>network</td><td>v1</td><td>bound</td><td>net0</td>"));
        assert!(
            page.contains(
                "<td>0:01:01.005</td><td>net0</td><td class=\"n\">1</td><td>&lt;fault&gt;</td>"
            ),
            "restart time, generation and cause, escaped"
        );
        let (newer, older) = (
            page.find("net0</td><td class").unwrap(),
            page.find("<td>0:00:20.250</td><td>net</td>").unwrap(),
        );
        assert!(newer < older, "the latest restart first");
        // Only the faulted task's row is marked.
        assert_eq!(page.matches("<tr class=\"faulted\">").count(), 1);
        let faulted = page.find("<tr class=\"faulted\">").unwrap();
        assert!(faulted > page.find("<td>supervisor</td>").unwrap());
    }

    #[test]
    fn the_json_parses_and_has_every_task() {
        let text = snapshot_text(json);
        let v: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(v["uptime_ms"], 3_723_000);
        let tasks = v["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0]["name"], "supervisor");
        assert!(tasks[0]["last_fault"].is_null());
        assert_eq!(tasks[1]["name"], "<b>\"x\\");
        assert_eq!(tasks[1]["last_fault"], "illegal instruction");
        assert_eq!(tasks[0]["throttles"], 0);
        assert_eq!(tasks[1]["throttles"], 41);
        assert_eq!(v["devices"][0]["driver"], "net0");
        assert_eq!(v["restarts"][0]["task"], "net");
        assert_eq!(v["restarts"][0]["at_ms"], 20_250);
        assert_eq!(v["restarts"][0]["cause"], "operator");
        assert_eq!(v["restarts"][1]["generation"], 1);
        assert_eq!(v["restarts"][1]["at_ms"], 61_005);
        assert_eq!(v["restarts"][1]["cause"], "<fault>");
        assert_eq!(v["net"]["rx_frames"], 120);
        assert_eq!(v["net"]["nic_restarts"], 1);
        assert_eq!(v["net"]["datagrams_reassembled"], 7);
        assert_eq!(v["net"]["datagrams_too_big"], 3);
        assert_eq!(v["net"]["reassemblies_dropped"], 2);
    }

    #[test]
    fn names_that_are_not_utf8_become_a_question_mark() {
        let mut raw = [0u8; 16];
        raw[0] = 0xff;
        assert_eq!(Name::from_nul_padded(&raw).as_str(), "?");
        assert_eq!(
            Name::from_nul_padded(&[b'a'; 16]).as_str(),
            "aaaaaaaaaaaaaaaa"
        );
    }
}
