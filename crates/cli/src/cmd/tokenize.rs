//! `ggufembed tokenize [--model M] [TEXT…] [--input FILE] [--prompt-name P]`: token ids and
//! pieces of each input text, one JSON object per line on stdout, in input order.

use crate::error::CliError;
use crate::input::{self, Record, Source, TextArgs};
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;
use tokenizer::prompts::{prompts_from_gguf, resolve_prompt};
use tokenizer::Tokenizer;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub text: TextArgs,
}

#[derive(Serialize)]
struct Output<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a serde_json::Value>,
    token_ids: &'a [u32],
    tokens: Vec<&'a str>,
}

pub fn run(Args { text: args }: Args) -> Result<ExitCode, CliError> {
    let source = Source::choose(args.texts, args.input)?;
    let path = crate::model_path::resolve_model(args.model)?;
    let file = gguf::GgufFile::open(&path)?;
    let tok = Tokenizer::from_gguf(&file)?;
    let prompts = prompts_from_gguf(&file);
    // Check the default prompt before reading any input.
    if let Some(name) = &args.prompt_name {
        resolve_prompt(&prompts, name, None)?;
    }

    let records = input::open(source)?;
    let input_name = records.name().to_string();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut text = String::new();
    let mut ids = Vec::new();
    for record in records {
        let record = record?;
        let line = record.line_no;
        prompted_text(&prompts, args.prompt_name.as_deref(), &record, &mut text).map_err(
            |reason| CliError::Input {
                input: input_name.clone(),
                line,
                reason,
            },
        )?;
        tok.encode_into(&text, &mut ids);
        let output = Output {
            id: record.id.as_ref(),
            token_ids: &ids,
            tokens: ids.iter().map(|&i| tok.piece(i).unwrap_or("")).collect(),
        };
        let written = serde_json::to_writer(&mut out, &output)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"));
        if let Err(e) = written {
            return stdout_error(e);
        }
    }
    match out.flush() {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => stdout_error(e),
    }
}

/// `text` = the record's prompt (its own `prompt_name`, else the default) + its text.
fn prompted_text(
    prompts: &[(String, String)],
    default_prompt: Option<&str>,
    record: &Record,
    text: &mut String,
) -> Result<(), String> {
    let name = match &record.prompt_name {
        Some(own) => own.as_deref(),
        None => default_prompt,
    };
    text.clear();
    match (name, &record.title) {
        (Some(name), title) => {
            let prompt = resolve_prompt(prompts, name, title.as_deref()).map_err(|e| e.to_string())?;
            text.push_str(&prompt);
        }
        (None, Some(_)) => {
            return Err(
                "a \"title\" needs the document prompt: add \"prompt_name\": \"document\" or --prompt-name document".into(),
            )
        }
        (None, None) => {}
    }
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
            title: title.map(String::from),
        }
    }

    #[test]
    fn prompt_choice() {
        let mut t = String::new();
        let ok = |r: &Record, default: Option<&str>, t: &mut String| {
            prompted_text(&[], default, r, t).map(|_| t.clone())
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
        assert!(ok(&record(None, Some("Doc")), None, &mut t).is_err());
        let e = ok(&record(Some(Some("nope")), None), None, &mut t).unwrap_err();
        assert!(e.contains("nope") && e.contains("query"), "{e}");
    }
}
