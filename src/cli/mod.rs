//! The command line (being written).

pub mod report_cmd;

pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
