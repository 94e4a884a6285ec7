//! `ggufembed bench --server URL`: load-tests a running `ggufembed serve` with `server::loadtest`.
//!
//! Normal run: N clients (default 64) for a fixed time (default 60 s) send OpenAI requests of 1-4
//! mixed-length texts from the bench corpus. Every vector is compared bit for bit with the offline
//! embedding of the same text (computed first, in this process, with the same model file), and
//! server throughput is compared with offline batch throughput. Targets: zero 5xx, zero mismatches,
//! throughput within 15% of offline, server peak RSS <= 700 MB.
//! `--overload`: clients hammer without backing off; the server must answer 429 instead of letting
//! its queue grow (queue depth never above capacity) and still return correct vectors.
use super::bench::BENCH_CORPUS;
use crate::error::CliError;
use crate::model_path::resolve_model;
use model::{EmbedderOptions, Input};
use server::loadtest::{self, LoadConfig, LoadText};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RSS_LIMIT_BYTES: f64 = 700e6;
const THROUGHPUT_RATIO_MIN: f64 = 0.85;

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Load-test the server at this URL (http://host:port) instead of benchmarking the engine.
    /// A server without ggufembed's /info (e.g. llama-server) gets the load without the
    /// bit-for-bit check.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Concurrent clients (default 64; with --overload, the server's max_concurrent + 64).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Seconds to run.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Each request carries 1..=N texts.
    #[arg(long, default_value_t = 4)]
    pub request_inputs: usize,
    /// Hammer without backing off on 429, to show back-pressure.
    #[arg(long)]
    pub overload: bool,
    /// Texts to send: JSON lines with "text" and optional "prompt_name" (default: the bench corpus).
    #[arg(long, value_name = "FILE.jsonl")]
    pub texts: Option<PathBuf>,
    /// Skip the offline reference (no bit-for-bit check, no throughput comparison).
    #[arg(long)]
    pub no_check: bool,
    /// API key of the server.
    #[arg(long, env = "GGUFEMBED_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// `model`: the GGUF the server runs (for the offline reference); default: the pulled model.
/// `json`: end with one JSON line of the figures (for scripts).
pub fn run(args: LoadArgs, model: Option<PathBuf>, json: bool) -> Result<ExitCode, CliError> {
    let url = args.server.clone().unwrap_or_default();
    let texts = load_texts(args.texts.as_deref())?;
    let info = server_info(&url, args.api_key.as_deref())?;
    let foreign = info.is_none();
    let info = info.unwrap_or_default();
    let field = |k: &str| info[k].as_u64().unwrap_or(0) as usize;
    if foreign {
        println!(
            "server {url}: no ggufembed /info (another engine?): load only, vectors are not \
             checked against the offline engine"
        );
    } else {
        println!(
            "server {url}: {} ({}), queue_size {}, max_concurrent {}, max_batch_tokens {}",
            info["model_id"].as_str().unwrap_or("?"),
            info["quantization"].as_str().unwrap_or("?"),
            field("queue_size"),
            field("max_concurrent_requests"),
            field("max_batch_tokens"),
        );
    }
    let check = !args.no_check && !foreign;

    let mut offline_tps = None;
    let mut expected = None;
    if check {
        let path = resolve_model(model)?;
        println!(
            "offline reference: embedding {} texts with {} ...",
            texts.len(),
            path.display()
        );
        let (vectors, tps) = offline_reference(&path, &texts)?;
        println!("offline batch throughput: {tps:.0} tokens/s");
        offline_tps = Some(tps);
        expected = Some(Arc::new(vectors));
    }

    let clients = args.clients.unwrap_or(if args.overload {
        (field("max_concurrent_requests") + 64).min(512)
    } else {
        64
    });
    let cfg = LoadConfig {
        url,
        clients,
        duration: Duration::from_secs(args.duration),
        api_key: args.api_key,
        texts,
        max_inputs: args.request_inputs.max(1),
        expected,
        backoff_on_429: if args.overload {
            Duration::ZERO
        } else {
            Duration::from_millis(100)
        },
        seed: 0x5eed,
    };
    println!(
        "load: {} clients for {} s{} ...",
        cfg.clients,
        args.duration,
        if args.overload {
            " (overload: no back-off)"
        } else {
            ""
        }
    );
    let rep = loadtest::run(&cfg).map_err(|source| CliError::Io {
        path: cfg.url.clone(),
        source,
    })?;
    print!("{}", rep.render());

    let mut checks: Vec<(String, bool)> = vec![
        (
            format!("zero 5xx ({})", rep.server_errors()),
            rep.server_errors() == 0,
        ),
        (
            format!("zero transport errors ({})", rep.transport_errors),
            rep.transport_errors == 0,
        ),
    ];
    if check {
        checks.push((
            format!("zero mismatched vectors ({})", rep.mismatches),
            rep.mismatches == 0,
        ));
    }
    if args.overload {
        checks.push((
            format!("429s under overload ({})", rep.count(429)),
            rep.count(429) > 0,
        ));
        checks.push((
            format!(
                "queue depth bounded ({} <= {})",
                rep.max_queue_depth, rep.queue_capacity
            ),
            rep.max_queue_depth <= rep.queue_capacity,
        ));
    } else if let Some(tps) = offline_tps {
        let ratio = rep.tokens_per_s() / tps;
        checks.push((
            format!(
                "throughput within 15% of offline ({:.0} vs {tps:.0} tokens/s, {:.0}%)",
                rep.tokens_per_s(),
                ratio * 100.0
            ),
            ratio >= THROUGHPUT_RATIO_MIN,
        ));
    }
    if let Some(rss) = rep.server_peak_rss {
        checks.push((
            format!("server peak RSS <= 700 MB ({:.0} MB)", rss / 1e6),
            rss <= RSS_LIMIT_BYTES,
        ));
    }
    let mut ok = true;
    for (what, pass) in &checks {
        println!("{} {what}", if *pass { "PASS" } else { "FAIL" });
        ok &= pass;
    }
    if json {
        let statuses: serde_json::Map<String, serde_json::Value> = rep
            .statuses
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        let figures = serde_json::json!({
            "clients": cfg.clients,
            "seconds": rep.elapsed.as_secs_f64(),
            "statuses": statuses,
            "transport_errors": rep.transport_errors,
            "tokens": rep.tokens_ok,
            "inputs": rep.inputs_ok,
            "tokens_per_s": rep.tokens_per_s(),
            "requests_per_s": rep.requests_per_s(),
            "p50_ms": rep.quantile(0.5) * 1e3,
            "p90_ms": rep.quantile(0.9) * 1e3,
            "p99_ms": rep.quantile(0.99) * 1e3,
            "mismatches": check.then_some(rep.mismatches),
            "server_peak_rss_mb": rep.server_peak_rss.map(|b| b / 1e6),
            "offline_tokens_per_s": offline_tps,
            "pass": ok,
        });
        println!("{figures}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn load_texts(path: Option<&Path>) -> Result<Vec<LoadText>, CliError> {
    let (name, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|source| CliError::Io {
                path: p.display().to_string(),
                source,
            })?,
        ),
        None => (
            "built-in bench corpus".to_string(),
            BENCH_CORPUS.to_string(),
        ),
    };
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| CliError::Usage(format!("{name}:{}: not JSON: {e}", i + 1)))?;
        let text = v["text"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                CliError::Usage(format!("{name}:{}: needs a non-empty \"text\"", i + 1))
            })?;
        out.push(LoadText {
            text: text.to_owned(),
            prompt_name: v["prompt_name"].as_str().map(str::to_owned),
        });
    }
    if out.is_empty() {
        return Err(CliError::Usage(format!("{name}: no texts")));
    }
    Ok(out)
}

/// The server's `GET /info`, or `None` if it has none (not a ggufembed server: 404 or not
/// JSON). Fails if the server cannot be reached or refuses the API key.
fn server_info(url: &str, key: Option<&str>) -> Result<Option<serde_json::Value>, CliError> {
    let io = |source| CliError::Io {
        path: url.to_owned(),
        source,
    };
    let mut c = server::client::HttpClient::new(url).map_err(io)?;
    if let Some(k) = key {
        c = c.with_header("Authorization", &format!("Bearer {k}"));
    }
    let r = c.get("/info").map_err(io)?;
    match r.status {
        200 => Ok(r.json().ok().filter(|v| v.is_object())),
        401 | 403 => Err(CliError::Usage(format!(
            "{url}/info answered {}: pass the server's key with --api-key or GGUFEMBED_API_KEY",
            r.status
        ))),
        404 => Ok(None),
        s => Err(CliError::Usage(format!(
            "{url}/info answered {s}: {}",
            r.text()
        ))),
    }
}

/// Offline embeddings of every text (one `embed` call, as `ggufembed embed` batches them) and the
/// batch throughput in tokens/s. The engine is dropped before the load starts.
fn offline_reference(path: &Path, texts: &[LoadText]) -> Result<(Vec<Vec<f32>>, f64), CliError> {
    let mut e = crate::model_path::open_embedder(path, &EmbedderOptions::default())?;
    let inputs: Vec<Input> = texts
        .iter()
        .map(|t| Input {
            prompt_name: t.prompt_name.clone(),
            ..Input::new(t.text.clone())
        })
        .collect();
    e.embed(&inputs[..inputs.len().min(4)])?; // warm-up
    let t0 = Instant::now();
    let out = e.embed(&inputs)?;
    let secs = t0.elapsed().as_secs_f64();
    let tokens: usize = out.iter().map(|x| x.n_tokens).sum();
    Ok((
        out.into_iter().map(|x| x.vector).collect(),
        tokens as f64 / secs,
    ))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Bench {
        #[command(flatten)]
        args: crate::cmd::bench::Args,
    }

    #[test]
    fn bench_flags_are_consistent_and_parse() {
        Bench::command().debug_assert();
        let b = Bench::try_parse_from([
            "bench",
            "--server",
            "http://127.0.0.1:1",
            "--clients",
            "8",
            "--overload",
        ])
        .unwrap();
        assert!(b.args.server.overload);
        assert_eq!(b.args.server.clients, Some(8));
        assert_eq!(b.args.server.duration, 60);
    }

    #[test]
    fn built_in_texts_load() {
        let t = super::load_texts(None).unwrap();
        assert!(t.len() > 100);
        assert!(t.iter().any(|x| x.prompt_name.as_deref() == Some("query")));
    }
}
