//! Input records for `embed` and `tokenize`: one reader, one record meaning and one error
//! policy for both (spelt out in [`INPUT_HELP`], shown by `--help`). Records stream in one at a
//! time (never the whole file) from command-line arguments, else a file (`--input`), else stdin.
//!
//! Each bad line (invalid UTF-8, bad JSON, missing or non-string `text`, ...) is an error naming
//! the line; the iterator then continues with the next line. The commands report it, skip the
//! record, go on, and exit non-zero at the end with a [`Tally`] summary. A read error ends the
//! stream.

use crate::error::CliError;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// What `embed --help` and `tokenize --help` say about input records (README: "Input records").
pub const INPUT_HELP: &str = "\
Input records (embed and tokenize read them the same way):
  - TEXT arguments: one record each. Else --input FILE, else stdin (`-i -` is stdin too).
  - --input-format auto (default): a FILE ending in .jsonl/.ndjson is JSON lines; other files
    and stdin are plain text. Use --input-format jsonl for JSON lines on stdin.
  - txt: every line is one text (\\n or \\r\\n; a UTF-8 BOM is dropped). An empty line is the
    empty text, embedded like any other (BOS + prompt + EOS, as sentence-transformers does).
  - jsonl: one JSON object per line: \"text\" (string, required, may be empty), \"id\" (any
    JSON value, echoed back), \"prompt_name\" (string; null = no prompt; absent = --prompt-name),
    \"title\" (string; null = no title; absent = --title). Other fields are ignored.
    Blank lines (only whitespace) are not records: skipped, with no output and no error.
  - A title with no prompt name selects the document prompt (`title: {title} | text: `).
  - Every output row has \"line\" (the record's 1-based line, or argument number) and \"id\"
    (the record's own id, or null: ids are never made up, so they cannot collide).
  - A bad record (invalid UTF-8 or JSON, unknown prompt, too long with --no-truncate, ...) is
    reported on stderr as `INPUT:LINE: reason` and skipped; the other records are processed,
    a summary line counts them, and the exit code is 1.
  - Prompt names: `ggufembed prompts [-m MODEL]` lists them.";

/// The arguments `embed` and `tokenize` share: where the texts and the model come from, and the
/// default prompt and title.
#[derive(clap::Args)]
pub struct TextArgs {
    /// Texts. Without any, texts come from --input, else stdin (one per line).
    pub texts: Vec<String>,
    /// GGUF model file, or a model name from `ggufembed models` (pulled on first use)
    /// [default: the pulled default model].
    #[arg(long, short)]
    pub model: Option<PathBuf>,
    /// Read records from FILE (`-` = stdin); see "Input records" below.
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    /// How to read --input / stdin: auto (by file extension; stdin is txt), txt or jsonl.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,
    /// Prompt to prepend: query, document, STS, Clustering, "question answering", ... (list
    /// them with `ggufembed prompts`). A .jsonl record's "prompt_name" overrides it.
    #[arg(long)]
    pub prompt_name: Option<String>,
    /// Document title: the document prompt becomes `title: {title} | text: `. A .jsonl
    /// record's "title" overrides it.
    #[arg(long)]
    pub title: Option<String>,
}

impl TextArgs {
    /// The records these arguments name: their source, read in the chosen format.
    pub fn open(&self) -> Result<Records, CliError> {
        let source = Source::choose(self.texts.clone(), self.input.clone())?;
        let format = Format::resolve(self.input_format, &source)?;
        open(source, format)
    }

    /// The prompt name and title for `record`: its own, else these defaults.
    pub fn prompt_of(&self, record: &Record) -> (Option<String>, Option<String>) {
        let name = match &record.prompt_name {
            None => self.prompt_name.clone(),
            Some(own) => own.clone(),
        };
        let title = match &record.title {
            None => self.title.clone(),
            Some(own) => own.clone(),
        };
        (name, title)
    }
}

/// `--input-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// By file extension: .jsonl / .ndjson are JSON lines; other files and stdin are text.
    Auto,
    /// One text per line.
    Txt,
    /// One JSON object per line.
    Jsonl,
}

/// Longest line accepted (bytes); longer lines are an error instead of unbounded memory.
pub const MAX_LINE_BYTES: usize = 256 << 20;

/// One input text and what came with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line number in the file / stdin, or argument number.
    pub line_no: usize,
    /// The record's own `id` (JSON lines only), echoed in the output; `None` is written as null.
    pub id: Option<Value>,
    pub text: String,
    /// `None`: not given (use the default prompt); `Some(None)`: explicitly no prompt.
    pub prompt_name: Option<Option<String>>,
    /// `None`: not given (use the default title); `Some(None)`: explicitly no title.
    pub title: Option<Option<String>>,
}

/// Where texts come from.
#[derive(Debug, Clone)]
pub enum Source {
    Args(Vec<String>),
    File(PathBuf),
    Stdin,
}

impl Source {
    /// Arguments if any, else `--input FILE` (`-` = stdin), else stdin. Both is a usage error.
    pub fn choose(texts: Vec<String>, input: Option<PathBuf>) -> Result<Source, CliError> {
        match (texts.is_empty(), input) {
            (false, Some(_)) => Err(CliError::Usage(
                "give the texts either as arguments or with --input FILE, not both".into(),
            )),
            (false, None) => Ok(Source::Args(texts)),
            (true, Some(p)) if p.as_os_str() == "-" => Ok(Source::Stdin),
            (true, Some(p)) => Ok(Source::File(p)),
            (true, None) => Ok(Source::Stdin),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One text per line.
    Text,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The format to read `source` in: `--input-format` if given (arguments take none), else by
    /// file extension, else (stdin, arguments) text.
    pub fn resolve(requested: Option<InputFormat>, source: &Source) -> Result<Format, CliError> {
        Ok(match (requested, source) {
            (Some(InputFormat::Txt | InputFormat::Jsonl), Source::Args(_)) => {
                return Err(CliError::Usage(
                    "--input-format applies to --input FILE or stdin, not to TEXT arguments".into(),
                ))
            }
            (Some(InputFormat::Txt), _) => Format::Text,
            (Some(InputFormat::Jsonl), _) => Format::JsonLines,
            (None | Some(InputFormat::Auto), Source::File(p)) => Format::of_path(p),
            (None | Some(InputFormat::Auto), _) => Format::Text,
        })
    }

    /// `.jsonl` / `.ndjson` (any case) are JSON lines; everything else is text.
    pub fn of_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson") => {
                Format::JsonLines
            }
            _ => Format::Text,
        }
    }
}

/// Opens `source` as a stream of records in `format` (ignored for arguments).
pub fn open(source: Source, format: Format) -> Result<Records, CliError> {
    Ok(match source {
        Source::Args(texts) => Records {
            name: "argument".into(),
            inner: Inner::Args(texts.into_iter()),
            line_no: 0,
            path: None,
            format: Format::Text,
            hint: false,
        },
        Source::Stdin => {
            let mut r = Records::from_reader(
                "stdin".into(),
                format,
                Box::new(BufReader::new(std::io::stdin())),
            );
            r.hint = format == Format::Text;
            r
        }
        Source::File(path) => {
            use crate::model_path::file_error;
            let file = match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    Err(file_error(&path, "is a directory, not a file of texts"))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(file_error(&path, "no such file"))
                }
                _ => std::fs::File::open(&path)
                    .map_err(|e| file_error(&path, format!("cannot read it ({e})"))),
            }?;
            let mut r = Records::from_reader(
                path.display().to_string(),
                format,
                Box::new(BufReader::with_capacity(1 << 16, file)),
            );
            r.path = Some(path);
            r
        }
    })
}

/// The stream of records (an iterator of `Result<Record, CliError>`).
pub struct Records {
    /// How errors name the input: a path, "stdin" or "argument".
    name: String,
    inner: Inner,
    /// Number of the last line read.
    line_no: usize,
    /// The file read, if it is one (for progress).
    path: Option<PathBuf>,
    format: Format,
    /// Say on stderr if the first text line looks like a JSON record (stdin read as text).
    hint: bool,
}

enum Inner {
    Args(std::vec::IntoIter<String>),
    Lines {
        reader: Box<dyn BufRead>,
        format: Format,
        buf: Vec<u8>,
        done: bool,
    },
}

impl Records {
    /// Records from any line reader (used for files and stdin; handy in tests).
    pub fn from_reader(name: String, format: Format, reader: Box<dyn BufRead>) -> Records {
        Records {
            name,
            inner: Inner::Lines {
                reader,
                format,
                buf: Vec::new(),
                done: false,
            },
            line_no: 0,
            path: None,
            format,
            hint: false,
        }
    }

    /// How errors name this input.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file read and its format, when the input is a file.
    pub fn file(&self) -> Option<(&Path, Format)> {
        Some((self.path.as_deref()?, self.format))
    }

    fn error(&self, reason: String) -> CliError {
        CliError::Input {
            input: self.name.clone(),
            line: self.line_no,
            reason,
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (reader, format, buf) = match &mut self.inner {
                Inner::Args(it) => {
                    let text = it.next()?;
                    self.line_no += 1;
                    return Some(Ok(Record {
                        line_no: self.line_no,
                        id: None,
                        text,
                        prompt_name: None,
                        title: None,
                    }));
                }
                Inner::Lines { done: true, .. } => return None,
                Inner::Lines {
                    reader,
                    format,
                    buf,
                    ..
                } => (reader, *format, buf),
            };
            buf.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            let read = reader.by_ref().take(limit).read_until(b'\n', buf);
            let n = match read {
                Ok(0) => {
                    self.finish();
                    return None;
                }
                Ok(n) => n,
                Err(e) => {
                    self.finish();
                    self.line_no += 1;
                    return Some(Err(self.error(format!("read error: {e}"))));
                }
            };
            self.line_no += 1;
            let mut line: &[u8] = buf;
            if line.ends_with(b"\n") {
                line = &line[..line.len() - 1];
                if line.ends_with(b"\r") {
                    line = &line[..line.len() - 1];
                }
            } else if n as u64 == limit {
                // An over-long line: report it and skip the rest of it.
                let reason = format!("line is longer than {MAX_LINE_BYTES} bytes");
                if let Err(e) = self.skip_rest_of_line() {
                    self.finish();
                    return Some(Err(self.error(format!("read error: {e}"))));
                }
                return Some(Err(self.error(reason)));
            }
            if self.line_no == 1 {
                line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
            }
            let line = match std::str::from_utf8(line) {
                Ok(s) => s,
                Err(e) => {
                    return Some(Err(self.error(format!(
                        "not valid UTF-8 (byte {} of the line); re-encode the input as UTF-8",
                        e.valid_up_to() + 1
                    ))))
                }
            };
            match format {
                Format::Text => {
                    if self.hint && self.line_no == 1 && looks_like_a_record(line) {
                        eprintln!(
                            "ggufembed: note: {} is read as plain text, one text per line, but its \
                             first line looks like a JSON record; pass --input-format jsonl to read \
                             JSON lines",
                            self.name
                        );
                    }
                    return Some(Ok(Record {
                        line_no: self.line_no,
                        id: None,
                        text: line.to_string(),
                        prompt_name: None,
                        title: None,
                    }));
                }
                Format::JsonLines => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let parsed = parse_json_record(line, self.line_no);
                    return Some(parsed.map_err(|reason| self.error(reason)));
                }
            }
        }
    }
}

impl Records {
    fn finish(&mut self) {
        if let Inner::Lines { done, .. } = &mut self.inner {
            *done = true;
        }
    }

    fn skip_rest_of_line(&mut self) -> std::io::Result<()> {
        if let Inner::Lines { reader, .. } = &mut self.inner {
            loop {
                let chunk = reader.fill_buf()?;
                if chunk.is_empty() {
                    return Ok(());
                }
                match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        reader.consume(i + 1);
                        return Ok(());
                    }
                    None => {
                        let n = chunk.len();
                        reader.consume(n);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The error policy of `embed` and `tokenize`: a failed record is reported on stderr and
/// counted, the others go on; at the end one summary line, and exit code 1 if any failed.
#[derive(Debug, Default)]
pub struct Tally {
    pub done: usize,
    pub failed: usize,
}

impl Tally {
    /// Reports one failed record (`message` names the input and line).
    pub fn fail(&mut self, message: &dyn std::fmt::Display) {
        eprintln!("ggufembed: {message}");
        self.failed += 1;
    }

    /// The summary line when some records failed (`verb`: what happened to the good ones).
    pub fn summary(&self, verb: &str) -> Option<String> {
        let (failed, done) = (self.failed, self.done);
        let total = failed + done;
        match (failed, done) {
            (0, _) => None,
            (1, 0) => Some("the only input failed (see the message above)".into()),
            (_, 0) => Some(format!(
                "all {total} inputs failed (see the messages above)"
            )),
            (1, 1) => Some(format!("1 of 2 inputs failed (see the message above); the other was {verb}")),
            (1, _) => Some(format!(
                "1 of {total} inputs failed (see the message above); the other {done} were {verb}"
            )),
            (_, 1) => Some(format!(
                "{failed} of {total} inputs failed (see the messages above); the other 1 was {verb}"
            )),
            _ => Some(format!(
                "{failed} of {total} inputs failed (see the messages above); the other {done} were {verb}"
            )),
        }
    }

    /// Prints the summary (if any) and gives the exit code.
    pub fn finish(&self, verb: &str) -> std::process::ExitCode {
        match self.summary(verb) {
            None => std::process::ExitCode::SUCCESS,
            Some(s) => {
                eprintln!("ggufembed: {s}");
                std::process::ExitCode::FAILURE
            }
        }
    }
}

/// A JSON object with a string "text": what a JSON-lines record looks like.
fn looks_like_a_record(line: &str) -> bool {
    line.trim_start().starts_with('{')
        && serde_json::from_str::<Value>(line).is_ok_and(|v| v["text"].is_string())
}

/// One JSON-lines record; the error is the reason (the caller adds where).
fn parse_json_record(line: &str, line_no: usize) -> Result<Record, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(mut obj) = value else {
        return Err(format!(
            "expected a JSON object like {{\"text\": \"...\"}}, got {}",
            kind(&value)
        ));
    };
    let text = match obj.remove("text") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("\"text\" must be a string, got {}", kind(&other))),
        None => return Err("missing \"text\" field".into()),
    };
    let prompt_name = match obj.remove("prompt_name") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s)),
        Some(other) => {
            return Err(format!(
                "\"prompt_name\" must be a string or null, got {}",
                kind(&other)
            ))
        }
    };
    let title = match obj.remove("title") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s)),
        Some(other) => {
            return Err(format!(
                "\"title\" must be a string or null, got {}",
                kind(&other)
            ))
        }
    };
    Ok(Record {
        line_no,
        id: obj.remove("id"),
        text,
        prompt_name,
        title,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read(format: Format, bytes: &[u8]) -> Vec<Result<Record, String>> {
        Records::from_reader("in".into(), format, Box::new(Cursor::new(bytes.to_vec())))
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    fn rec(line_no: usize, text: &str) -> Record {
        Record {
            line_no,
            id: None,
            text: text.into(),
            prompt_name: None,
            title: None,
        }
    }

    #[test]
    fn text_lines() {
        let got = read(Format::Text, "\u{feff}one\r\n\ntwo \u{0}\nlast".as_bytes());
        assert_eq!(
            got,
            vec![
                Ok(rec(1, "one")),
                Ok(rec(2, "")),
                Ok(rec(3, "two \u{0}")),
                Ok(rec(4, "last"))
            ]
        );
        assert!(read(Format::Text, b"").is_empty());
    }

    #[test]
    fn invalid_utf8_names_the_line_and_continues() {
        let got = read(Format::Text, b"ok\nbad \xff here\nfine\n");
        assert_eq!(got[0], Ok(rec(1, "ok")));
        let e = got[1].as_ref().unwrap_err();
        assert!(e.starts_with("in:2: not valid UTF-8 (byte 5"), "{e}");
        assert_eq!(got[2], Ok(rec(3, "fine")));
    }

    #[test]
    fn json_lines() {
        let input = concat!(
            "{\"text\": \"a\", \"id\": 7, \"extra\": [1]}\n",
            "\n",
            "{\"text\": \"b\", \"prompt_name\": null, \"id\": \"x\"}\n",
            "{\"text\": \"c\", \"prompt_name\": \"query\", \"title\": \"T\"}\n",
            "{\"text\": 5}\n",
            "{\"id\": 1}\n",
            "not json\n",
            "[1, 2]\n",
            "{\"text\": \"d\", \"prompt_name\": 3}\n",
            "{\"text\": \"e\"}",
        );
        let got = read(Format::JsonLines, input.as_bytes());
        assert_eq!(got.len(), 9);
        assert_eq!(
            got[0],
            Ok(Record {
                id: Some(serde_json::json!(7)),
                ..rec(1, "a")
            })
        );
        assert_eq!(
            got[1],
            Ok(Record {
                id: Some(serde_json::json!("x")),
                prompt_name: Some(None),
                ..rec(3, "b")
            })
        );
        assert_eq!(
            got[2],
            Ok(Record {
                prompt_name: Some(Some("query".into())),
                title: Some(Some("T".into())),
                ..rec(4, "c")
            })
        );
        let errs: Vec<&String> = got[3..8].iter().map(|r| r.as_ref().unwrap_err()).collect();
        assert!(
            errs[0].starts_with("in:5: \"text\" must be a string"),
            "{}",
            errs[0]
        );
        assert!(errs[1].starts_with("in:6: missing \"text\""), "{}", errs[1]);
        assert!(errs[2].starts_with("in:7: invalid JSON"), "{}", errs[2]);
        assert!(
            errs[3].starts_with("in:8: expected a JSON object"),
            "{}",
            errs[3]
        );
        assert!(
            errs[4].starts_with("in:9: \"prompt_name\" must be"),
            "{}",
            errs[4]
        );
        assert_eq!(got[8], Ok(rec(10, "e")));
    }

    #[test]
    fn sources_and_formats() {
        assert_eq!(Format::of_path(Path::new("a/b.JSONL")), Format::JsonLines);
        assert_eq!(Format::of_path(Path::new("b.ndjson")), Format::JsonLines);
        assert_eq!(Format::of_path(Path::new("b.json")), Format::Text);
        assert_eq!(Format::of_path(Path::new("b")), Format::Text);
        assert!(Source::choose(vec!["x".into()], Some("f".into())).is_err());
        assert!(matches!(
            Source::choose(vec![], Some("-".into())),
            Ok(Source::Stdin)
        ));
        let recs: Vec<Record> = open(Source::Args(vec!["a".into(), "".into()]), Format::Text)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(recs, vec![rec(1, "a"), rec(2, "")]);
        let e = open(Source::File("/nonexistent/x.txt".into()), Format::Text)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "/nonexistent/x.txt: no such file");
        let e = open(Source::File("/".into()), Format::Text)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "/: is a directory, not a file of texts");
    }

    #[test]
    fn summaries_count_right() {
        let t = |failed, done| Tally { done, failed }.summary("embedded");
        assert_eq!(t(0, 5), None);
        assert_eq!(t(0, 0), None);
        assert_eq!(
            t(1, 0).unwrap(),
            "the only input failed (see the message above)"
        );
        assert_eq!(
            t(3, 0).unwrap(),
            "all 3 inputs failed (see the messages above)"
        );
        assert_eq!(
            t(1, 1).unwrap(),
            "1 of 2 inputs failed (see the message above); the other was embedded"
        );
        assert_eq!(
            t(1, 4).unwrap(),
            "1 of 5 inputs failed (see the message above); the other 4 were embedded"
        );
        assert_eq!(
            t(2, 1).unwrap(),
            "2 of 3 inputs failed (see the messages above); the other 1 was embedded"
        );
        assert_eq!(
            t(2, 3).unwrap(),
            "2 of 5 inputs failed (see the messages above); the other 3 were embedded"
        );
    }

    #[test]
    fn formats_are_chosen_by_flag_then_extension() {
        let file = |p: &str| Source::File(p.into());
        let r = |f, s: &Source| Format::resolve(f, s).unwrap();
        assert_eq!(r(None, &file("a.jsonl")), Format::JsonLines);
        assert_eq!(r(Some(InputFormat::Auto), &file("a.txt")), Format::Text);
        assert_eq!(r(None, &Source::Stdin), Format::Text);
        assert_eq!(
            r(Some(InputFormat::Jsonl), &Source::Stdin),
            Format::JsonLines
        );
        assert_eq!(r(Some(InputFormat::Txt), &file("a.jsonl")), Format::Text);
        assert_eq!(
            r(Some(InputFormat::Jsonl), &file("data.json")),
            Format::JsonLines
        );
        assert!(
            Format::resolve(Some(InputFormat::Jsonl), &Source::Args(vec!["x".into()])).is_err()
        );
        assert!(looks_like_a_record(r#"{"text": "a", "id": 1}"#));
        assert!(!looks_like_a_record("{not json"));
        assert!(!looks_like_a_record(r#"{"id": 1}"#));
    }

    #[test]
    fn record_prompts_override_the_defaults() {
        let args = TextArgs {
            texts: vec![],
            model: None,
            input: None,
            input_format: None,
            prompt_name: Some("query".into()),
            title: Some("Default".into()),
        };
        let own = |p: Option<Option<&str>>, t: Option<Option<&str>>| Record {
            prompt_name: p.map(|p| p.map(String::from)),
            title: t.map(|t| t.map(String::from)),
            ..rec(1, "x")
        };
        let s = |x: &str| Some(x.to_string());
        assert_eq!(args.prompt_of(&own(None, None)), (s("query"), s("Default")));
        assert_eq!(
            args.prompt_of(&own(Some(Some("STS")), Some(Some("T")))),
            (s("STS"), s("T"))
        );
        assert_eq!(args.prompt_of(&own(Some(None), None)), (None, s("Default")));
        assert_eq!(args.prompt_of(&own(None, Some(None))), (s("query"), None));
    }

    #[test]
    fn megabyte_line() {
        let long = "é".repeat(1 << 19);
        let got = read(Format::Text, format!("{long}\nx\n").as_bytes());
        assert_eq!(got, vec![Ok(rec(1, &long)), Ok(rec(2, "x"))]);
    }
}
