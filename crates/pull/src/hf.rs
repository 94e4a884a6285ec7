//! Source 2: the ready-made GGUF on Hugging Face, downloaded over HTTPS with a short connect
//! timeout, so a machine without a route there fails in seconds, not minutes.

use convert::Progress;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::Duration;

/// `ggml-org/embeddinggemma-300M-GGUF`, file `embeddinggemma-300M-Q8_0.gguf` (316 tensors).
pub const HF_URL: &str =
    "https://huggingface.co/ggml-org/embeddinggemma-300M-GGUF/resolve/main/embeddinggemma-300M-Q8_0.gguf";

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest silence tolerated while the body streams.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Downloads `url` into `dest` (created or truncated). On error `dest` may hold a partial file;
/// the caller removes it. The error is a one-line reason.
pub fn download(url: &str, dest: &Path, progress: &dyn Progress) -> Result<u64, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(READ_TIMEOUT)
        .user_agent(concat!("ggufembed/", env!("CARGO_PKG_VERSION")))
        .build();
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => format!("HTTP {code} {}", r.status_text()),
        ureq::Error::Transport(t) => format!("cannot connect: {t}"),
    })?;
    let total: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let file = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut body = resp.into_reader();
    progress.start("downloading from Hugging Face", total.unwrap_or(0));
    let mut buf = vec![0u8; 1 << 20];
    let mut n_total = 0u64;
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| format!("download interrupted after {n_total} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        n_total += n as u64;
        progress.inc(n as u64);
    }
    if let Some(t) = total {
        if t != n_total {
            return Err(format!("download ended after {n_total} of {t} bytes"));
        }
    }
    let file = out
        .into_inner()
        .map_err(|e| format!("{}: {}", dest.display(), e.error()))?;
    file.sync_all()
        .map_err(|e| format!("{}: {e}", dest.display()))?;
    progress.finish();
    Ok(n_total)
}
