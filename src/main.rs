fn main() {
    std::process::exit(hardend::cli::main());
}
