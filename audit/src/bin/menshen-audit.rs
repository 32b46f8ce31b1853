//! `menshen-audit`: export, verify and inspect Menshen audit logs. Kept
//! separate from the proxy so that a regulator can verify a bundle with a
//! small binary.

fn main() {
    std::process::exit(menshen_audit::cli::run_cli(std::env::args_os()));
}
