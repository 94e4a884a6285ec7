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
    /// API requests in flight at once; beyond it 429.
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
    let config = ServerConfig {
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
    };
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
