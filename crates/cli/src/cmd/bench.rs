//! `ggufembed bench` (pending).
use crate::error::CliError;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<ExitCode, CliError> {
    Err(CliError::NotImplemented("bench"))
}
