//! `ggufembed bench` (pending).
use crate::error::CliError;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// GGUF model file (default: the pulled default model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// `--server URL` and its options: load-test a running server (cmd/bench_server.rs).
    #[command(flatten)]
    pub(crate) server: super::bench_server::LoadArgs,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.server.server.is_some() {
        return super::bench_server::run(args.server, args.model);
    }
    Err(CliError::NotImplemented("bench"))
}
