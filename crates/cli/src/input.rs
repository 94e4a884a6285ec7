//! Input texts for `tokenize` and `embed`, read as a stream (one record at a time, never the
//! whole file): command-line arguments, else a file (`--input`), else stdin.
//!
//! - `.jsonl` / `.ndjson` files: one JSON object per line with a string `text`, and optionally
//!   `id` (any JSON value, echoed back), `prompt_name` (string, or null = no prompt; absent = the
//!   command's default) and `title` (string or null). Other fields are ignored; blank lines are
//!   skipped.
//! - Any other file, and stdin: one text per line (`\n` or `\r\n`; an empty line is an empty
//!   text). A UTF-8 byte-order mark at the start is dropped.
//!
//! Each bad line (invalid UTF-8, bad JSON, missing or non-string `text`, ...) is an error naming
//! the line; the iterator then continues with the next line, so the caller decides whether to
//! stop or report and go on. A read error ends the stream.

use crate::error::CliError;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The arguments `embed` and `tokenize` share: where the texts and the model come from, and the
/// default prompt.
#[derive(clap::Args)]
pub struct TextArgs {
    /// Texts. Without any, texts come from --input, else stdin (one per line).
    pub texts: Vec<String>,
    /// GGUF model file, or a model name from `ggufembed models` (pulled on first use)
    /// [default: the pulled default model].
    #[arg(long, short)]
    pub model: Option<PathBuf>,
    /// Read texts from FILE (`-` = stdin). `.jsonl`: one object per line with "text" and
    /// optional "id", "prompt_name" (null = none), "title"; other files: one text per line.
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    /// Prompt to prepend: query, document, STS, Clustering, "question answering", ... (see
    /// `ggufembed inspect`). A .jsonl record's "prompt_name" overrides it.
    #[arg(long)]
    pub prompt_name: Option<String>,
}

/// Longest line accepted (bytes); longer lines are an error instead of unbounded memory.
pub const MAX_LINE_BYTES: usize = 256 << 20;

/// One input text and what came with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line number in the file / stdin, or argument number.
    pub line_no: usize,
    /// The record's `id` (JSON lines only), echoed in the output.
    pub id: Option<Value>,
    pub text: String,
    /// `None`: not given (use the default prompt); `Some(None)`: explicitly no prompt.
    pub prompt_name: Option<Option<String>>,
    pub title: Option<String>,
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

/// Opens `source` as a stream of records.
pub fn open(source: Source) -> Result<Records, CliError> {
    Ok(match source {
        Source::Args(texts) => Records {
            name: "argument".into(),
            inner: Inner::Args(texts.into_iter()),
            line_no: 0,
        },
        Source::Stdin => Records::from_reader(
            "stdin".into(),
            Format::Text,
            Box::new(BufReader::new(std::io::stdin())),
        ),
        Source::File(path) => {
            let file = std::fs::File::open(&path).map_err(|e| CliError::Io {
                path: path.display().to_string(),
                source: e,
            })?;
            Records::from_reader(
                path.display().to_string(),
                Format::of_path(&path),
                Box::new(BufReader::with_capacity(1 << 16, file)),
            )
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
        }
    }

    /// How errors name this input.
    pub fn name(&self) -> &str {
        &self.name
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
                    return Some(Ok(Record {
                        line_no: self.line_no,
                        id: None,
                        text: line.to_string(),
                        prompt_name: None,
                        title: None,
                    }))
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
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
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
                title: Some("T".into()),
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
        let recs: Vec<Record> = open(Source::Args(vec!["a".into(), "".into()]))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(recs, vec![rec(1, "a"), rec(2, "")]);
        let e = open(Source::File("/nonexistent/x.txt".into()))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/nonexistent/x.txt"), "{e}");
    }

    #[test]
    fn megabyte_line() {
        let long = "é".repeat(1 << 19);
        let got = read(Format::Text, format!("{long}\nx\n").as_bytes());
        assert_eq!(got, vec![Ok(rec(1, &long)), Ok(rec(2, "x"))]);
    }
}
