//! The command line (being written).

pub mod baseline_cmd;

pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
