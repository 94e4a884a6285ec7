//! One module per subcommand. Each has `Args` (clap) and `run(Args) -> Result<ExitCode, CliError>`.
pub mod bench;
pub mod bench_server;
pub mod convert;
pub mod embed;
pub mod inspect;
pub mod models;
pub mod prompts;
pub mod pull;
pub mod quantize;
pub mod serve;
pub mod tokenize;
