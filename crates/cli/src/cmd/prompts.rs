//! `ggufembed prompts [-m M] [--json]`: the prompt names a model accepts and the text each one
//! puts before the input — the same list `embed`, `tokenize` and the server's `/info` use
//! (`tokenizer::prompts::prompts_from_gguf`). Reads only the GGUF's metadata.

use crate::error::CliError;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// GGUF model file, or a model name from `ggufembed models` (default: the pulled default model).
    #[arg(long, short)]
    pub model: Option<PathBuf>,
    /// Print one JSON object {name: text} (in list order) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let path = crate::model_path::resolve_model(args.model)?;
    let file = crate::model_path::open_gguf(&path)?;
    let prompts = tokenizer::prompts::prompts_from_gguf(&file);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if args.json {
        let map: serde_json::Map<String, serde_json::Value> = prompts
            .into_iter()
            .map(|(n, t)| (n, serde_json::Value::String(t)))
            .collect();
        serde_json::to_writer_pretty(&mut out, &map)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        write_table(&mut out, &prompts)
    };
    match written.and_then(|_| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(source) => Err(CliError::Io {
            path: "stdout".into(),
            source,
        }),
    }
}

/// `name  "text"` per line, names padded to one column; the text quoted so its trailing space
/// shows.
fn write_table(out: &mut impl Write, prompts: &[(String, String)]) -> std::io::Result<()> {
    let width = prompts.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, text) in prompts {
        writeln!(out, "{name:width$}  {text:?}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_names_and_shows_trailing_spaces() {
        let mut out = Vec::new();
        let list = [
            (
                "query".to_string(),
                "task: search result | query: ".to_string(),
            ),
            (
                "fact checking".to_string(),
                "task: fact checking | query: ".to_string(),
            ),
        ];
        write_table(&mut out, &list).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "query          \"task: search result | query: \"\n\
             fact checking  \"task: fact checking | query: \"\n"
        );
    }
}
