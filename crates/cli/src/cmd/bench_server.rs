//! `ggufembed bench --server URL`: load-tests a running `ggufembed serve` with `server::loadtest`.
//!
//! Normal run: N clients (default 64) for a fixed time (default 60 s) send OpenAI requests of 1-4
//! mixed-length texts from the bench corpus. Every vector is compared bit for bit with the offline
//! embedding of the same text (computed first, in this process, with the same model file), and
//! server throughput is compared with offline batch throughput. Targets: zero 5xx, zero mismatches,
//! throughput within 15% of offline, server peak RSS <= 700 MB.
//! `--overload`: clients hammer without backing off; the server must answer 429 instead of letting
//! its queue grow (queue depth never above capacity) and still return correct vectors.
//! `--hostile`: the same check of the well-behaved clients (16 by default), alone and then while
//! `server::hostile` attacks (slow bodies and heads, idle connections, disconnects, pipelining,
//! oversized and malformed requests, `Expect: 100-continue`); loopback only.
//! `--soak`: `server::soak`'s mixed traffic (OpenAI float/base64/dims/token ids, TEI, tokenize,
//! bad requests, cancellations, the hostile mix at a low rate) with RSS/fd/thread samples.
use super::bench::BENCH_CORPUS;
use crate::error::CliError;
use crate::model_path::resolve_model;
use model::{EmbedderOptions, Input};
use server::hostile::{self, HostileConfig};
use server::loadtest::{self, LoadConfig, LoadText};
use server::soak::{self, Expect, SoakCase, SoakConfig};
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
    /// Attack the server (loopback only) with slow, stalled and malformed clients while checking
    /// the well-behaved ones: --duration seconds without the attack, then as long with it.
    #[arg(long, conflicts_with_all = ["overload", "soak"])]
    pub hostile: bool,
    /// Mixed traffic for --duration seconds (e.g. 600) with the hostile mix at a low rate,
    /// sampling the server's RSS, descriptors and threads every 10 s (loopback only).
    #[arg(long, conflicts_with = "overload")]
    pub soak: bool,
    /// With --hostile: stalled slow-body connections held open.
    #[arg(long, default_value_t = 1000)]
    pub slow_body: usize,
    /// With --hostile: slow-head connections held open.
    #[arg(long, default_value_t = 200)]
    pub slow_head: usize,
    /// With --hostile: connections held open that send nothing.
    #[arg(long, default_value_t = 100)]
    pub idle: usize,
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

    if (args.hostile || args.soak) && !check {
        return Err(CliError::Usage(
            "--hostile and --soak check vectors against the offline engine: they need a ggufembed server and no --no-check".into(),
        ));
    }
    if args.soak {
        let path = resolve_model(model)?;
        return run_soak(&args, &url, &path, &texts);
    }
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
    } else if args.hostile {
        16
    } else {
        64
    });
    let cfg = LoadConfig {
        url,
        clients,
        duration: Duration::from_secs(args.duration),
        api_key: args.api_key.clone(),
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
    if args.hostile {
        return run_hostile(&args, &cfg);
    }
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

fn print_checks(checks: &[(String, bool)]) -> ExitCode {
    let mut ok = true;
    for (what, pass) in checks {
        println!("{} {what}", if *pass { "PASS" } else { "FAIL" });
        ok &= pass;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_hostile(args: &LoadArgs, load: &LoadConfig) -> Result<ExitCode, CliError> {
    let attack = HostileConfig {
        slow_body: args.slow_body,
        slow_head: args.slow_head,
        idle: args.idle,
        ..HostileConfig::default()
    };
    println!(
        "hostile: {} well-behaved clients, {} s alone, then {} s with {} slow-body, {} slow-head and {} idle connections and the one-shot attacks ...",
        load.clients, args.duration, args.duration, attack.slow_body, attack.slow_head, attack.idle
    );
    let rep = hostile::run(load, &attack).map_err(|source| CliError::Io {
        path: load.url.clone(),
        source,
    })?;
    print!("{}", rep.render());
    Ok(print_checks(&rep.checks()))
}

/// The soak's cases, with the vectors the offline engine gives for them.
fn soak_cases(path: &Path, texts: &[LoadText]) -> Result<Vec<SoakCase>, CliError> {
    let mut e = crate::model_path::open_embedder(path, &EmbedderOptions::default())?;
    let json = Some("application/json");
    // Groups of 1-3 texts with one prompt each, from the first texts of the corpus.
    let mut groups: Vec<Vec<&LoadText>> = Vec::new();
    for t in texts.iter().take(48) {
        let n_groups = groups.len();
        match groups.last_mut() {
            Some(g) if g.len() < 1 + n_groups % 3 && g[0].prompt_name == t.prompt_name => g.push(t),
            _ => groups.push(vec![t]),
        }
    }
    let mut cases = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let input = |t: &LoadText, dims: Option<usize>| Input {
            prompt_name: t.prompt_name.clone(),
            dims,
            ..Input::new(t.text.clone())
        };
        let full: Vec<Input> = g.iter().map(|t| input(t, None)).collect();
        let want: Vec<Vec<f32>> = e.embed(&full)?.into_iter().map(|x| x.vector).collect();
        let strings: Vec<&str> = g.iter().map(|t| t.text.as_str()).collect();
        let prompt = &g[0].prompt_name;
        let dims = [512, 256, 128][i % 3];
        let small: Vec<Input> = g.iter().map(|t| input(t, Some(dims))).collect();
        let want_small: Vec<Vec<f32>> = e.embed(&small)?.into_iter().map(|x| x.vector).collect();
        let ids: Vec<Vec<u32>> = full
            .iter()
            .map(|x| e.prepare(x).map(|t| t.ids))
            .collect::<Result<_, _>>()?;
        let body = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"input": strings, "model": "x", "prompt_name": prompt});
            if let (Some(o), Some(x)) = (v.as_object_mut(), extra.as_object()) {
                o.extend(x.clone());
            }
            v.to_string()
        };
        cases.push(SoakCase {
            kind: "openai float",
            path: "/v1/embeddings",
            body: body(serde_json::json!({})),
            content_type: json,
            expect: Expect::Vectors(want.clone()),
        });
        cases.push(SoakCase {
            kind: "openai base64 (curl -d)",
            path: "/v1/embeddings",
            body: body(serde_json::json!({"encoding_format": "base64"})),
            content_type: Some("application/x-www-form-urlencoded"),
            expect: Expect::Vectors(want.clone()),
        });
        cases.push(SoakCase {
            kind: "openai dims",
            path: "/v1/embeddings",
            body: body(serde_json::json!({"dimensions": dims, "encoding_format": "base64"})),
            content_type: None,
            expect: Expect::Vectors(want_small),
        });
        cases.push(SoakCase {
            kind: "openai token ids",
            path: "/v1/embeddings",
            body: serde_json::json!({"input": ids, "encoding_format": "base64"}).to_string(),
            content_type: json,
            expect: Expect::Vectors(want.clone()),
        });
        cases.push(SoakCase {
            kind: "tei embed",
            path: "/embed",
            body: serde_json::json!({"inputs": strings, "prompt_name": prompt}).to_string(),
            content_type: json,
            expect: Expect::Vectors(want),
        });
    }
    for (kind, path, body, ct, status) in [
        (
            "tokenize",
            "/tokenize",
            r#"{"inputs":"Which planet is red?"}"#,
            json,
            200,
        ),
        (
            "detokenize",
            "/detokenize",
            r#"{"ids":[2,9259,1]}"#,
            json,
            200,
        ),
        (
            "bad: invalid JSON",
            "/v1/embeddings",
            r#"{"input": "#,
            json,
            400,
        ),
        (
            "bad: dimensions",
            "/v1/embeddings",
            r#"{"input":"a","dimensions":3}"#,
            json,
            422,
        ),
        (
            "bad: prompt",
            "/embed",
            r#"{"inputs":"a","prompt_name":"nope"}"#,
            json,
            422,
        ),
        (
            "bad: token id",
            "/v1/embeddings",
            r#"{"input":[2,99999999,1]}"#,
            json,
            422,
        ),
        (
            "bad: content type",
            "/embed",
            r#"{"inputs":"a"}"#,
            Some("text/plain"),
            415,
        ),
    ] {
        cases.push(SoakCase {
            kind,
            path,
            body: body.into(),
            content_type: ct,
            expect: Expect::Status(status),
        });
    }
    Ok(cases)
}

fn run_soak(
    args: &LoadArgs,
    url: &str,
    model: &Path,
    texts: &[LoadText],
) -> Result<ExitCode, CliError> {
    println!(
        "soak: offline reference vectors with {} ...",
        model.display()
    );
    let cases = soak_cases(model, texts)?;
    let secs = args.duration;
    let cfg = SoakConfig {
        url: url.to_owned(),
        api_key: args.api_key.clone(),
        clients: args.clients.unwrap_or(16),
        duration: Duration::from_secs(secs),
        cases,
        sample_every: Duration::from_secs(10.min(secs.max(4) / 4)),
        warm_up: Duration::from_secs(60.min(secs / 4)),
        cancel_every: Duration::from_millis(100),
        hostile: HostileConfig {
            slow_body: 5,
            slow_head: 5,
            idle: 5,
            one_shot_every: Duration::from_secs(2),
            ..HostileConfig::default()
        },
    };
    println!(
        "soak: {} clients, {} cases, cancellations and a low-rate hostile mix for {secs} s ...",
        cfg.clients,
        cfg.cases.len()
    );
    let rep = soak::run(&cfg).map_err(|source| CliError::Io {
        path: url.to_owned(),
        source,
    })?;
    print!("{}", rep.render());
    Ok(print_checks(&rep.checks()))
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
        let b = Bench::try_parse_from([
            "bench",
            "--server",
            "http://127.0.0.1:1",
            "--hostile",
            "--slow-body",
            "130",
        ])
        .unwrap();
        assert!(b.args.server.hostile);
        assert_eq!(b.args.server.slow_body, 130);
        assert!(Bench::try_parse_from(["bench", "--server", "u", "--hostile", "--soak"]).is_err());
        assert!(Bench::try_parse_from(["bench", "--server", "u", "--overload", "--soak"]).is_err());
    }

    #[test]
    fn built_in_texts_load() {
        let t = super::load_texts(None).unwrap();
        assert!(t.len() > 100);
        assert!(t.iter().any(|x| x.prompt_name.as_deref() == Some("query")));
    }
}
