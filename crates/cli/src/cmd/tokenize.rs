//! `ggufembed tokenize [-m M] [TEXT…] [-i FILE] [--input-format F] [--prompt-name P] [--title T]`:
//! token ids and pieces of each input record, one JSON object per line on stdout, in input
//! order. Records, prompts and bad records are handled exactly as in `embed`
//! (`input::INPUT_HELP`), so the ids shown are the ones `embed` feeds the model (before
//! truncation to the context).

use crate::error::CliError;
use crate::input::{Record, Tally, TextArgs};
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;
use tokenizer::prompts::{prompt_prefix, prompts_from_gguf};
use tokenizer::Tokenizer;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub text: TextArgs,
}

#[derive(Serialize)]
struct Output<'a> {
    /// The record's own id, or null.
    id: Option<&'a serde_json::Value>,
    line: usize,
    token_ids: &'a [u32],
    tokens: Vec<&'a str>,
}

pub fn run(Args { text: args }: Args) -> Result<ExitCode, CliError> {
    let records = args.open()?;
    let path = crate::model_path::resolve_model(args.model.clone())?;
    let file = crate::model_path::open_gguf(&path)?;
    let tok = Tokenizer::from_gguf(&file).map_err(|e| crate::model_path::file_error(&path, e))?;
    let prompts = prompts_from_gguf(&file);
    drop(file);
    // Check the default prompt and title before reading any input.
    prompt_prefix(&prompts, args.prompt_name.as_deref(), args.title.as_deref())
        .map_err(|e| CliError::Usage(e.to_string()))?;

    let input_name = records.name().to_string();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut tally = Tally::default();
    let mut text = String::new();
    let mut ids = Vec::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                tally.fail(&e);
                continue;
            }
        };
        if let Err(reason) = prompted_text(&prompts, &args, &record, &mut text) {
            tally.fail(&format!("{input_name}:{}: {reason}", record.line_no));
            continue;
        }
        tok.encode_into(&text, &mut ids);
        let output = Output {
            id: record.id.as_ref(),
            line: record.line_no,
            token_ids: &ids,
            tokens: ids.iter().map(|&i| tok.piece(i).unwrap_or("")).collect(),
        };
        let written = serde_json::to_writer(&mut out, &output)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"));
        if let Err(e) = written {
            return stdout_error(e);
        }
        tally.done += 1;
    }
    if let Err(e) = out.flush() {
        return stdout_error(e);
    }
    Ok(tally.finish("tokenized"))
}

/// `text` = the record's prompt (its own `prompt_name`/`title`, else the defaults) + its text.
fn prompted_text(
    prompts: &[(String, String)],
    args: &TextArgs,
    record: &Record,
    text: &mut String,
) -> Result<(), String> {
    let (name, title) = args.prompt_of(record);
    text.clear();
    let prefix =
        prompt_prefix(prompts, name.as_deref(), title.as_deref()).map_err(|e| e.to_string())?;
    text.push_str(&prefix);
    text.push_str(&record.text);
    Ok(())
}

/// A closed pipe (`| head`) ends the output quietly; other write errors are reported.
fn stdout_error(e: std::io::Error) -> Result<ExitCode, CliError> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::Io {
            path: "stdout".into(),
            source: e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(prompt_name: Option<Option<&str>>, title: Option<&str>) -> Record {
        Record {
            line_no: 1,
            id: None,
            text: "hello".into(),
            prompt_name: prompt_name.map(|p| p.map(String::from)),
            title: title.map(|t| Some(t.to_string())),
        }
    }

    fn defaults(prompt_name: Option<&str>) -> TextArgs {
        TextArgs {
            texts: vec![],
            model: None,
            input: None,
            input_format: None,
            prompt_name: prompt_name.map(String::from),
            title: None,
        }
    }

    #[test]
    fn prompt_choice() {
        let mut t = String::new();
        // EmbeddingGemma's prompts (a model without prompts refuses every prompt name).
        let gemma: Vec<(String, String)> = tokenizer::prompts::builtin_prompts()
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        let ok = |r: &Record, default: Option<&str>, t: &mut String| {
            prompted_text(&gemma, &defaults(default), r, t).map(|_| t.clone())
        };
        assert_eq!(ok(&record(None, None), None, &mut t).unwrap(), "hello");
        assert_eq!(
            ok(&record(None, None), Some("query"), &mut t).unwrap(),
            "task: search result | query: hello"
        );
        // the record's own prompt_name wins; null means none
        assert_eq!(
            ok(&record(Some(Some("STS")), None), Some("query"), &mut t).unwrap(),
            "task: sentence similarity | query: hello"
        );
        assert_eq!(
            ok(&record(Some(None), None), Some("query"), &mut t).unwrap(),
            "hello"
        );
        assert_eq!(
            ok(&record(None, Some("Doc")), Some("document"), &mut t).unwrap(),
            "title: Doc | text: hello"
        );
        // A title alone selects the document prompt, as in `embed`.
        assert_eq!(
            ok(&record(None, Some("Doc")), None, &mut t).unwrap(),
            "title: Doc | text: hello"
        );
        // The task prompts every command accepts.
        assert_eq!(
            ok(
                &record(Some(Some("question answering")), None),
                None,
                &mut t
            )
            .unwrap(),
            "task: question answering | query: hello"
        );
        assert!(ok(&record(None, Some("Doc")), Some("query"), &mut t).is_err());
        let e = ok(&record(Some(Some("nope")), None), None, &mut t).unwrap_err();
        assert!(e.contains("nope") && e.contains("query"), "{e}");
    }
}
