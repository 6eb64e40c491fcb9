//! Generates the Net server trait and dispatch from `idl/net.idol`, and
//! checks the stack's `config` from app.toml (`VIREO_CONFIG`): its
//! settings, and its `ports`, which become the table `PORTS` of task
//! indices (`$OUT_DIR/ports.rs`), with no more UDP ports than UDP sockets,
//! no more tasks with TCP ports than the stack's TCP sockets can keep
//! a share for, and no more TCP ports than its socket table has room for
//! listeners. A mistake in either fails the build, naming it. Both are
//! parsed by the crate's own modules, included here.

#[allow(dead_code)]
#[path = "src/ports.rs"]
mod ports;
#[allow(dead_code)]
#[path = "src/settings.rs"]
mod settings;
#[allow(dead_code)]
#[path = "src/share.rs"]
mod share;
#[allow(dead_code)]
#[path = "src/table.rs"]
mod table;

use std::fmt::Write as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::var("OUT_DIR")?;
    idol::generate_server("../../idl/net.idol", &out)?;
    println!("cargo:rerun-if-env-changed=VIREO_CONFIG");
    println!("cargo:rerun-if-env-changed=VIREO_TASKS");
    // (Read, not watched: only a refused config, whose script always
    // runs again, names the file, and watching it would rebuild the stack
    // for every image.)
    let config = std::env::var("VIREO_CONFIG").unwrap_or_default();
    // The app file being built and the line of this task's `config` in it
    // (`test/net.toml:98`, as xtask gives it), for the messages below.
    let app = format!(
        "{}: the net task's `config`",
        std::env::var("VIREO_APP").unwrap_or_else(|_| "app.toml".into())
    );
    let tasks = std::env::var("VIREO_TASKS").unwrap_or_default();
    let tasks: Vec<&str> = tasks.split(',').filter(|t| !t.is_empty()).collect();
    if let Err(e) = settings::Settings::parse(&config) {
        return Err(format!(
            "{app}: `{}` = {:?} is not understood: it takes {}",
            e.key,
            e.value,
            e.expected()
        )
        .into());
    }
    let ports_text = config
        .split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim() == "ports")
        .map_or("", |(_, v)| v.trim());
    let mut table = String::from(
        "/// The ports app.toml grants (the net task's `config` key `ports`).\n\
         pub const PORTS: &[Grant] = &[\n",
    );
    // Host builds (tests, clippy) have no image: no tasks, no grants.
    if !tasks.is_empty() {
        let index_of = |name: &str| tasks.iter().position(|t| *t == name).map(|i| i as u16);
        let mut grants = Vec::new();
        ports::parse(ports_text, index_of, |g| grants.push(g))
            .map_err(|e| format!("{app}: `ports`: {e}"))?;
        match share::check_grants(&grants) {
            Ok(()) => {}
            Err(share::Overgrant::UdpPorts(n)) => {
                return Err(format!(
                    "{app}: `ports` grants {n} UDP ports, but the \
                     stack has {} UDP sockets: a grant it could not bind would be no grant",
                    share::UDP_SOCKETS
                )
                .into())
            }
            Err(share::Overgrant::TcpTasks(n)) => {
                return Err(format!(
                    "{app}: `ports` grants TCP ports to {n} tasks, \
                     but its {} TCP sockets keep {} for each: at most {} tasks may have TCP ports",
                    share::SOCKETS,
                    share::RESERVE,
                    share::SOCKETS / share::RESERVE
                )
                .into())
            }
            Err(share::Overgrant::TcpPorts(n)) => {
                return Err(format!(
                    "{app}: `ports` grants {n} TCP ports, but the stack's socket \
                     table has room for a listener on {} beside its sockets",
                    share::TCP_PORTS
                )
                .into())
            }
        }
        for g in grants {
            writeln!(
                table,
                "    Grant {{ task: {}, proto: Proto::{:?}, port: {} }},",
                g.task, g.proto, g.port
            )?;
        }
    }
    table.push_str("];\n");
    writeln!(
        table,
        "/// Tasks in the image: each may subscribe to readiness once.\n\
         pub const TASKS: usize = {};",
        tasks.len().max(1)
    )?;
    std::fs::write(format!("{out}/ports.rs"), table)?;
    Ok(())
}
