//! `ggufembed embed [-m M] [TEXT…] [-i FILE] [--input-format F] [--prompt-name P] [--title T]
//! [--dims D] [--format jsonl|json|csv|npy] [-o FILE] [-t N] [--no-truncate] [--allow-missing-head]`
//!
//! Embeds texts from arguments, a `.txt`/`.jsonl` file or stdin, writing one vector per input in
//! input order. Input streams through in chunks of `CHUNK` records, so memory stays bounded
//! whatever the input size. Records and bad records are handled as `input::INPUT_HELP` says.

mod output;

use crate::error::CliError;
use crate::input::{self, Record, TextArgs};
use model::{Embedder, EmbedderOptions, Input, TokenInput, Truncate};
use output::{Format, Writer};
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Records read, tokenized and embedded together.
const CHUNK: usize = 64;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub text: TextArgs,
    /// Output dimensions (Matryoshka): 768, 512, 256 or 128.
    #[arg(long)]
    pub dims: Option<usize>,
    /// Output format. jsonl/json: {"id", "line", "embedding", "n_tokens", "truncated"} per
    /// record; csv: columns id,line,n_tokens,truncated,e0,… (an id that is not a string is
    /// written as its JSON text, a missing one as an empty field); npy: only the vectors
    /// (float32 [n, dims], failed records left out).
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Write to FILE instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Compute threads (0 = all cores; more than the cores is capped, with a warning).
    #[arg(long, short, default_value_t = 0)]
    pub threads: usize,
    /// Fail inputs longer than the model's context (2048 tokens) instead of truncating them.
    #[arg(long)]
    pub no_truncate: bool,
    /// Return raw (not L2-normalized) vectors.
    #[arg(long)]
    pub no_normalize: bool,
    /// Accept an old GGUF without the dense head (its vectors are NOT EmbeddingGemma's).
    #[arg(long)]
    pub allow_missing_head: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let records = args.text.open()?;
    let path = crate::model_path::resolve_model(args.text.model.clone())?;
    let opts = EmbedderOptions {
        threads: args.threads,
        allow_missing_head: args.allow_missing_head,
    };
    let mut embedder = crate::model_path::open_embedder(&path, &opts)?;

    // Options are checked once, before any input is read.
    let template = Input {
        prompt_name: args.text.prompt_name.clone(),
        title: args.text.title.clone(),
        dims: args.dims,
        truncate: if args.no_truncate {
            Truncate::Error
        } else {
            Truncate::Truncate
        },
        normalize: !args.no_normalize,
        ..Input::default()
    };
    embedder
        .prepare(&template)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let dims = args.dims.unwrap_or(embedder.info().n_embd);

    let progress = match records.file() {
        Some((p, format)) if std::io::stderr().is_terminal() => Some(Progress::new(p, format)),
        _ => None,
    };
    let input_name = records.name().to_string();
    let out_name = args
        .output
        .as_ref()
        .map_or("stdout".to_string(), |p| p.display().to_string());
    let io_err = |e: std::io::Error| CliError::Io {
        path: out_name.clone(),
        source: e,
    };
    let mut writer = Writer::create(args.output.as_deref(), args.format, dims).map_err(io_err)?;

    let mut job = Job {
        embedder: &mut embedder,
        args: &args.text,
        template: &template,
        input_name: &input_name,
        tally: input::Tally::default(),
    };
    let mut records = records.peekable();
    while records.peek().is_some() {
        let chunk: Vec<Result<Record, CliError>> = records.by_ref().take(CHUNK).collect();
        let n_tokens = job.run_chunk(chunk, &mut writer).map_err(io_err)?;
        if let Some(p) = &progress {
            p.advance(job.tally.done + job.tally.failed, n_tokens);
        }
    }
    writer.finish().map_err(io_err)?;
    if let Some(p) = progress {
        p.finish();
    }
    Ok(job.tally.finish("embedded"))
}

struct Job<'a> {
    embedder: &'a mut Embedder,
    /// The prompt and title defaults.
    args: &'a TextArgs,
    template: &'a Input,
    input_name: &'a str,
    tally: input::Tally,
}

impl Job<'_> {
    /// Tokenizes, embeds and writes one chunk of records; bad ones are reported and skipped.
    /// Returns the number of tokens embedded. Errors are output (I/O) errors only.
    fn run_chunk(
        &mut self,
        chunk: Vec<Result<Record, CliError>>,
        writer: &mut Writer,
    ) -> std::io::Result<usize> {
        let mut keys = Vec::with_capacity(chunk.len());
        let mut prepared = Vec::with_capacity(chunk.len());
        for record in chunk {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    self.tally.fail(&e);
                    continue;
                }
            };
            let (prompt_name, title) = self.args.prompt_of(&record);
            let input = Input {
                text: record.text,
                prompt_name,
                title,
                ..self.template.clone()
            };
            match self.embedder.prepare(&input) {
                Ok(t) => {
                    keys.push((record.id, record.line_no));
                    prepared.push(t);
                }
                Err(e) => self
                    .tally
                    .fail(&format!("{}:{}: {e}", self.input_name, record.line_no)),
            }
        }
        let n_tokens = prepared.iter().map(|t: &TokenInput| t.ids.len()).sum();
        match self.embedder.embed_tokens(&prepared) {
            Ok(vectors) => {
                for ((id, line), v) in keys.iter().zip(&vectors) {
                    writer.write(&output::Record {
                        id: id.as_ref(),
                        line: *line,
                        embedding: &v.vector,
                        n_tokens: v.n_tokens,
                        truncated: v.truncated,
                    })?;
                }
                self.tally.done += vectors.len();
            }
            // Inputs were validated by `prepare`, so this is not expected; report them all.
            Err(e) => {
                for (_, line) in &keys {
                    self.tally.fail(&format!("{}:{line}: {e}", self.input_name));
                }
            }
        }
        Ok(n_tokens)
    }
}

/// Progress on stderr for file jobs: items, tokens/s, ETA.
struct Progress {
    bar: indicatif::ProgressBar,
    start: Instant,
    tokens: std::cell::Cell<usize>,
}

impl Progress {
    fn new(path: &Path, format: input::Format) -> Progress {
        let total = count_lines(path, format);
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} inputs  {msg}  ETA {eta}",
            )
            .expect("valid progress template"),
        );
        Progress {
            bar,
            start: Instant::now(),
            tokens: std::cell::Cell::new(0),
        }
    }

    fn advance(&self, items: usize, tokens: usize) {
        self.tokens.set(self.tokens.get() + tokens);
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        self.bar
            .set_message(format!("{:.0} tokens/s", self.tokens.get() as f64 / secs));
        self.bar.set_position(items as u64);
    }

    fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// Records in a file (the progress total): every line of a text file, every non-blank line of a
/// JSON-lines file; 0 if it cannot be read now (the real read reports the error).
fn count_lines(path: &Path, format: input::Format) -> u64 {
    let Ok(f) = std::fs::File::open(path) else {
        return 0;
    };
    let jsonl = format == input::Format::JsonLines;
    std::io::BufReader::new(f)
        .split(b'\n')
        .map_while(Result::ok)
        .filter(|l| !jsonl || !l.trim_ascii().is_empty())
        .count() as u64
}
