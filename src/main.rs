fn main() -> std::process::ExitCode {
    cisgate::cli::main()
}
