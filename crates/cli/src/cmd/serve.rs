//! `ggufembed serve`: binds first (loopback by default), loads the model in the background
//! (/health is 503 until it is ready), serves until Ctrl-C or SIGTERM, then drains and exits.
use crate::error::CliError;
use crate::model_path::resolve_model;
use model::EmbedderOptions;
use server::{ModelBackend, ServerConfig};
use std::io::Write;
use std::net::{IpAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn defaults() -> ServerConfig {
    ServerConfig::default()
}

#[derive(clap::Args)]
pub struct Args {
    /// GGUF model file, or a model name from `ggufembed models` (pulled on first use)
    /// [default: the pulled default model]. Checked (open + GGUF header) before the port is bound.
    #[arg(long, short)]
    model: Option<PathBuf>,
    /// Address to bind. Anything but loopback exposes the server to the network: set --api-key.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to bind (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Compute threads (0 = all cores; more than the cores is capped, with a warning).
    #[arg(long, short, default_value_t = 0)]
    threads: usize,
    /// Require `Authorization: Bearer KEY` on every route but /health.
    #[arg(long, env = "GGUFEMBED_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Most tokens per model batch; concurrent requests are merged up to it.
    #[arg(long, default_value_t = defaults().batch_tokens)]
    batch_tokens: usize,
    /// Requests that may wait for the model; beyond it new requests get 429 + Retry-After.
    #[arg(long, default_value_t = defaults().queue_size)]
    queue_size: usize,
    /// API requests admitted at once (queued or computing; bodies are read first); beyond it 429.
    #[arg(long, default_value_t = defaults().max_concurrent)]
    max_concurrent: usize,
    /// Most inputs per request.
    #[arg(long, default_value_t = defaults().max_inputs)]
    max_inputs: usize,
    /// Largest request body, bytes (413 beyond).
    #[arg(long, default_value_t = defaults().body_limit)]
    body_limit: usize,
    /// Truncate over-long inputs when a request does not say (`--truncate false`: refuse with 413).
    #[arg(long, default_value_t = defaults().truncate_default, action = clap::ArgAction::Set)]
    truncate: bool,
    /// Seconds a request may wait for its embeddings before 503.
    #[arg(long, default_value_t = defaults().request_timeout.as_secs())]
    timeout: u64,
    /// Allowed CORS origin (repeatable; `*` for any). None: no CORS headers.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Name reported as `model` (default: the file name without .gguf).
    #[arg(long)]
    model_id: Option<String>,
    /// Serve a GGUF without the dense head (its vectors are not the real model's).
    #[arg(long)]
    allow_missing_head: bool,
    /// Most tokens per input, special tokens and prompt included (default: the model's
    /// sentence-transformers max_seq_length recorded by `ggufembed convert`, else its context
    /// length; at most the context length). Reported as `max_input_length` by /info.
    #[arg(long)]
    max_tokens: Option<usize>,
    #[command(flatten)]
    conn: ConnLimits,
}

/// Connection limits: every stage of a connection is bounded, so slow or stalled clients cannot
/// starve the server (see crates/server/README.md, "Slow and hostile clients").
#[derive(clap::Args)]
struct ConnLimits {
    /// Seconds a client may take to send a request's head (request line and headers), and a new
    /// connection may stay silent; past it the connection is closed.
    #[arg(long, default_value_t = defaults().head_timeout.as_secs())]
    head_timeout: u64,
    /// Seconds a client may take to send a request body (a total); past it 408 and the connection is
    /// closed.
    #[arg(long, default_value_t = defaults().body_timeout.as_secs())]
    body_timeout: u64,
    /// Seconds a kept-alive connection may sit idle between requests before it is closed.
    #[arg(long, default_value_t = defaults().keep_alive_timeout.as_secs())]
    keep_alive_timeout: u64,
    /// Seconds a response write may make no progress (a client that does not read) before the
    /// connection is closed.
    #[arg(long, default_value_t = defaults().write_timeout.as_secs())]
    write_timeout: u64,
    /// Open connections at most; past it new connections get 503 and are closed.
    #[arg(long, default_value_t = defaults().max_connections)]
    max_connections: usize,
    /// Request bodies being received at once; past it 429. Bodies are read before a request takes
    /// one of --max-concurrent slots.
    #[arg(long, default_value_t = defaults().max_uploads)]
    max_uploads: usize,
    /// Bytes of request bodies being received, summed over all uploads; past it 429.
    #[arg(long, default_value_t = defaults().upload_bytes)]
    upload_bytes: usize,
    /// Largest request head (request line and headers), bytes; past it 431.
    #[arg(long, default_value_t = defaults().max_header_bytes)]
    max_header_bytes: usize,
}

impl ConnLimits {
    /// Checks the values (each must be at least 1) and puts them into `config`.
    fn apply(&self, config: &mut ServerConfig) -> Result<(), CliError> {
        for (flag, v) in [
            ("--head-timeout", self.head_timeout as usize),
            ("--body-timeout", self.body_timeout as usize),
            ("--keep-alive-timeout", self.keep_alive_timeout as usize),
            ("--write-timeout", self.write_timeout as usize),
            ("--max-connections", self.max_connections),
            ("--max-uploads", self.max_uploads),
            ("--upload-bytes", self.upload_bytes),
            ("--max-header-bytes", self.max_header_bytes),
        ] {
            if v == 0 {
                return Err(CliError::Usage(format!("{flag} must be at least 1")));
            }
        }
        config.head_timeout = Duration::from_secs(self.head_timeout);
        config.body_timeout = Duration::from_secs(self.body_timeout);
        config.keep_alive_timeout = Duration::from_secs(self.keep_alive_timeout);
        config.write_timeout = Duration::from_secs(self.write_timeout);
        config.max_connections = self.max_connections;
        config.max_uploads = self.max_uploads;
        config.upload_bytes = self.upload_bytes;
        config.max_header_bytes = self.max_header_bytes;
        Ok(())
    }
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    for (flag, v) in [
        ("--batch-tokens", args.batch_tokens),
        ("--queue-size", args.queue_size),
        ("--max-concurrent", args.max_concurrent),
        ("--max-inputs", args.max_inputs),
        ("--body-limit", args.body_limit),
        ("--timeout", args.timeout as usize),
    ] {
        if v == 0 {
            return Err(CliError::Usage(format!("{flag} must be at least 1")));
        }
    }
    let model = resolve_model(args.model)?;
    // A missing, unreadable or non-GGUF file fails here, before anything listens.
    drop(crate::model_path::open_gguf(&model)?);
    let mut config = ServerConfig {
        batch_tokens: args.batch_tokens,
        queue_size: args.queue_size,
        max_concurrent: args.max_concurrent,
        max_inputs: args.max_inputs,
        body_limit: args.body_limit,
        truncate_default: args.truncate,
        request_timeout: Duration::from_secs(args.timeout),
        api_key: args.api_key.filter(|k| !k.is_empty()),
        cors_origins: args.cors_origins,
        model_id: args.model_id,
        ..defaults()
    };
    args.conn.apply(&mut config)?;
    if !args.host.is_loopback() && config.api_key.is_none() {
        eprintln!(
            "ggufembed: warning: listening on {} without an API key; anyone who can reach it can use it (set --api-key or GGUFEMBED_API_KEY)",
            args.host
        );
    }

    let listener = TcpListener::bind((args.host, args.port)).map_err(|source| CliError::Io {
        path: format!("binding {}:{}", args.host, args.port),
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| CliError::Io {
        path: "listening socket".into(),
        source,
    })?;
    // The first stdout line names the address (scripts and tests read it); logs go to stderr.
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    eprintln!(
        "ggufembed: loading {} in the background; /health is 503 until it is ready",
        model.display()
    );

    let opts = EmbedderOptions {
        threads: args.threads,
        allow_missing_head: args.allow_missing_head,
        max_tokens: args.max_tokens,
        ..EmbedderOptions::default()
    };
    let batch_tokens = config.batch_tokens;
    let loader = move || {
        let t0 = Instant::now();
        let backend = ModelBackend::open(&model, &opts, batch_tokens)?;
        for w in &backend.embedder().info().warnings {
            eprintln!("ggufembed: warning: {w}");
        }
        eprintln!(
            "ggufembed: model ready in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        Ok(backend)
    };

    server::run_until_signal(listener, config, loader, || {
        eprintln!("ggufembed: shutting down: finishing requests in flight, refusing new ones")
    })?;
    eprintln!("ggufembed: stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod conn_limit_tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn connection_limit_flags_reach_the_config() {
        Serve::command().debug_assert();
        let s = Serve::try_parse_from([
            "serve",
            "--head-timeout",
            "3",
            "--body-timeout",
            "7",
            "--keep-alive-timeout",
            "2",
            "--write-timeout",
            "9",
            "--max-connections",
            "10",
            "--max-uploads",
            "4",
            "--upload-bytes",
            "1000",
            "--max-header-bytes",
            "9000",
        ])
        .unwrap();
        let mut c = defaults();
        s.args.conn.apply(&mut c).unwrap();
        assert_eq!(c.head_timeout, Duration::from_secs(3));
        assert_eq!(c.body_timeout, Duration::from_secs(7));
        assert_eq!(c.keep_alive_timeout, Duration::from_secs(2));
        assert_eq!(c.write_timeout, Duration::from_secs(9));
        assert_eq!(
            (
                c.max_connections,
                c.max_uploads,
                c.upload_bytes,
                c.max_header_bytes
            ),
            (10, 4, 1000, 9000)
        );
        let s = Serve::try_parse_from(["serve", "--max-uploads", "0"]).unwrap();
        match s.args.conn.apply(&mut defaults()) {
            Err(CliError::Usage(m)) => assert!(m.contains("--max-uploads"), "{m}"),
            _ => panic!("--max-uploads 0 must be refused"),
        }
    }
}
