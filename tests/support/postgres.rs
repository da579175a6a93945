//! A real PostgreSQL server for the store tests, started once per test binary on a free
//! loopback port in a temporary data directory, as a non-root user (`postgres`, else
//! `nobody`) when the tests run as root. The server gets the parent-death signal, so it
//! stops when the test binary exits; data directories of earlier binaries that are gone
//! are removed at the next start. Each test asks for its own fresh database.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::missing;

struct Server {
    port: u16,
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// A URL of a new, empty database on the test server; `None` (after [`missing`]) when
/// PostgreSQL's server programs are not installed.
pub fn fresh_database() -> Option<String> {
    let server = SERVER.get_or_init(start).as_ref()?;
    let name = format!(
        "cisgate_test_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::SeqCst)
    );
    let admin = format!("postgres://cisgate@127.0.0.1:{}/postgres", server.port);
    let mut client =
        postgres::Client::connect(&admin, postgres::NoTls).expect("connect to the test server");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    Some(format!(
        "postgres://cisgate@127.0.0.1:{}/{name}",
        server.port
    ))
}

/// The directory of PostgreSQL's server programs (Debian keeps them out of PATH).
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// uid and gid of the user the server runs as, when the tests run as root.
fn server_user() -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3 && fields[0] == name {
                Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
            } else {
                None
            }
        })
    };
    Some(
        entry("postgres")
            .or_else(|| entry("nobody"))
            .unwrap_or((65534, 65534)),
    )
}

fn as_server_user(command: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
}

fn start() -> Option<Server> {
    let Some(bin) = bin_dir() else {
        missing(
            "PostgreSQL's server programs (/usr/lib/postgresql/*/bin; Debian package `postgresql`)",
        );
        return None;
    };
    remove_stale_directories();
    let user = server_user();
    let root = std::env::temp_dir().join(format!("cisgate-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    let sockets = root.join("sockets");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&sockets).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    if let Some((uid, gid)) = user {
        for dir in [&data, &sockets] {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
        }
    }
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .args(["-D"])
        .arg(&data)
        .args([
            "-U",
            "cisgate",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ])
        .current_dir(&root);
    as_server_user(&mut initdb, user);
    let output = initdb.output().expect("initdb runs");
    assert!(
        output.status.success(),
        "initdb failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let port = free_port();
    let (sender, receiver) = std::sync::mpsc::channel();
    let log = root.join("server.log");
    let postgres = bin.join("postgres");
    // The server's parent is this thread, which lives as long as the test binary: the
    // parent-death signal then stops the server when the binary exits.
    std::thread::Builder::new()
        .name("postgres-owner".into())
        .spawn(move || {
            let log_file = std::fs::File::create(&log).unwrap();
            let mut command = Command::new(postgres);
            command
                .arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!("unix_socket_directories={}", sockets.display()))
                .args(["-c", "fsync=off", "-c", "max_connections=60"])
                .current_dir(&root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file);
            as_server_user(&mut command, user);
            unsafe {
                command.pre_exec(|| {
                    rustix::process::set_parent_process_death_signal(Some(
                        rustix::process::Signal::TERM,
                    ))
                    .map_err(std::io::Error::from)
                });
            }
            let child = command.spawn();
            sender.send(child.map(|c| c.id())).unwrap();
            loop {
                std::thread::park();
            }
        })
        .unwrap();
    receiver.recv().unwrap().expect("postgres starts");
    wait_until_ready(port);
    Some(Server { port })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until_ready(port: u16) {
    let url = format!("postgres://cisgate@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(_) => return,
            Err(error) if Instant::now() > deadline => {
                panic!("the test PostgreSQL server did not come up on port {port}: {error}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Data directories of test binaries that have exited.
fn remove_stale_directories() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("cisgate-pg-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
