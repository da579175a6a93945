//! Headless Chromium as the tests and the HTML benchmark start it (Debian's `chromium`,
//! installed by `.ci/run`).

use std::path::Path;
use std::process::Command;

/// `chromium --headless … --dump-dom` with its own profile in `profile`, ready for a URL;
/// `None` when no Chromium is installed.
pub fn dump_dom_command(profile: &Path) -> Option<Command> {
    let program = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|program| {
            Command::new(program)
                .arg("--version")
                .output()
                .is_ok_and(|output| output.status.success())
        })?;
    let mut command = Command::new(program);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom");
    Some(command)
}
