//! `cisgate completions SHELL`, `cisgate man`, and the `--version` text: all generated from the
//! clap definitions, so they cannot drift from the flags that exist.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, ValueEnum};

use super::Cli;
use crate::definitions::tree::BenchmarkTree;

#[derive(Debug, Args)]
pub struct CompletionsCommand {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ManCommand {
    /// Write one page per command (cisgate.1, cisgate-scan.1, …) into DIR instead of printing
    /// cisgate(1) to stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Parses the command line with `--version` listing the embedded benchmarks.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// The full clap command, as the binary presents it (with the long version text).
pub fn command() -> clap::Command {
    static LONG_VERSION: OnceLock<String> = OnceLock::new();
    Cli::command().long_version(LONG_VERSION.get_or_init(long_version).as_str())
}

/// `0.1.0`, the commit and target it was built from and for (see build.rs), then the
/// benchmarks embedded in this binary, one a line.
fn long_version() -> String {
    let names = BenchmarkTree::Embedded.benchmark_names();
    let mut text = String::from(env!("CARGO_PKG_VERSION"));
    text.push_str(concat!("\ncommit: ", env!("CISGATE_BUILD_COMMIT")));
    text.push_str(concat!("\ntarget: ", env!("CISGATE_BUILD_TARGET")));
    text.push_str("\nembedded benchmarks:");
    for name in names {
        text.push_str("\n  ");
        text.push_str(&name);
    }
    text
}

pub fn completions(cmd: CompletionsCommand) -> anyhow::Result<i32> {
    let mut command = with_subcommands_built(command());
    let shell = match cmd.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Generated into memory first: clap_complete panics when its writer fails, and a reader
    // that stops early (`| head`) closes stdout, which `write_output` takes as the end.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "cisgate", &mut script);
    crate::report::write_output(std::path::Path::new("-"), &script)
        .context("writing the completion script")?;
    Ok(0)
}

/// The subcommands' deferred arguments (see `Command`'s `defer`) built before the top
/// command: clap's `help` subcommand copies the subcommands' trees when the top is built, and
/// the scripts complete `cisgate help baseline create` from that copy. Built first, each
/// subcommand names itself `cisgate NAME` (the top would have) and its own `help` is in the
/// copy too (`cisgate help baseline help`, which clap accepts).
fn with_subcommands_built(mut command: clap::Command) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        let bin_name = format!("cisgate {name}");
        command = command.mut_subcommand(name, |sub| {
            let mut sub = sub.bin_name(bin_name);
            sub.build();
            sub
        });
    }
    command
}

pub fn man(cmd: ManCommand) -> anyhow::Result<i32> {
    let command = command();
    match cmd.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(command.clone(), &dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
            // cisgate.1 again, with the exit status as a table (see `top_page`).
            let top = top_page(command.disable_help_subcommand(true))?;
            let path = dir.join("cisgate.1");
            std::fs::write(&path, top).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            crate::report::write_output(std::path::Path::new("-"), &top_page(command)?)
                .context("writing the man page")?;
        }
    }
    Ok(0)
}

/// cisgate(1): clap_mangen's page, with the exit codes as an EXIT STATUS table instead of the
/// `--help` text (which roff would fill into one paragraph), and the version lines kept apart.
fn top_page(command: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.after_help(None::<&str>))
        .render(&mut page)
        .context("rendering the man page")?;
    let page = String::from_utf8(page).context("the man page is not UTF-8")?;
    let exit_status = exit_status_section();
    const VERSION: &str = ".SH VERSION\n";
    Ok(match page.find(VERSION) {
        Some(at) => {
            let version = &page[at + VERSION.len()..];
            format!("{}{exit_status}{VERSION}.nf\n{version}.fi\n", &page[..at])
        }
        None => format!("{page}{exit_status}"),
    }
    .into_bytes())
}

fn exit_status_section() -> String {
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    for (code, text) in super::EXIT_CODES {
        roff.push_str(&format!(
            ".TP\n\\fB{code}\\fR\n{}\n",
            text.replace('-', "\\-")
        ));
    }
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_starts_with_the_crate_version_and_lists_the_embedded_benchmark() {
        let text = long_version();
        assert!(text.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(text.lines().any(|line| line.trim() == "cis-1.12"), "{text}");
        assert!(text.contains(&format!("\ncommit: {}\n", env!("CISGATE_BUILD_COMMIT"))));
        assert!(text.contains(&format!("\ntarget: {}\n", env!("CISGATE_BUILD_TARGET"))));
    }

    #[test]
    fn the_command_definition_is_consistent() {
        command().debug_assert();
    }
}
