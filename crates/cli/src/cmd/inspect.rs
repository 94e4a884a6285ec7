//! `ggufembed inspect [FILE | --model M] [--json] [--hashes]`: architecture summary, all metadata
//! (long arrays as length + first items) and the tensor table of a GGUF file (default: the
//! pulled default model, like every command that takes a model).

use crate::error::CliError;
use gguf::{Array, GgufFile, TensorInfo, Value};
use serde_json::{json, Map, Value as Json};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The GGUF file to inspect (default: the pulled default model).
    pub file: Option<PathBuf>,
    /// The same as FILE, spelt like every other command's model option.
    #[arg(long, short, conflicts_with = "file")]
    pub model: Option<PathBuf>,
    /// Print JSON instead of text (same content; arrays carry a payload sha256).
    #[arg(long)]
    pub json: bool,
    /// Add the sha256 of every tensor's data (reads the whole file).
    #[arg(long)]
    pub hashes: bool,
}

impl Args {
    /// The file inspected (set by `run` once resolved).
    fn path(&self) -> &std::path::Path {
        self.file.as_deref().unwrap_or(std::path::Path::new(""))
    }
}

/// Array items shown before "...".
const HEAD_ITEMS: usize = 5;
/// Longest string value shown in full in text output.
const MAX_TEXT_CHARS: usize = 120;

pub fn run(mut args: Args) -> Result<ExitCode, CliError> {
    let path = crate::model_path::resolve_model(args.file.take().or(args.model.take()))?;
    let file = crate::model_path::open_gguf(&path)?;
    args.file = Some(path);
    let summary = Summary::of(&file);
    let hashes = args.hashes.then(|| tensor_hashes(&file));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if args.json {
        let doc = to_json(&args, &file, &summary, hashes.as_deref());
        serde_json::to_writer_pretty(&mut out, &doc)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        write_text(&mut out, &args, &file, &summary, hashes.as_deref())
    };
    match written.and_then(|_| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `inspect | head` closing the pipe early is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(source) => Err(CliError::Io {
            path: "<stdout>".into(),
            source,
        }),
    }
}

/// The architecture facts a reader of the file wants first. Absent keys stay `None`.
struct Summary {
    arch: Option<String>,
    name: Option<String>,
    n_layer: Option<u64>,
    n_embd: Option<u64>,
    n_ctx: Option<u64>,
    n_head: Option<u64>,
    n_head_kv: Option<u64>,
    head_dim: Option<u64>,
    n_ff: Option<u64>,
    n_vocab: Option<usize>,
    file_type: Option<u32>,
    n_tensors: usize,
    /// `GgufFile::weight_mix`: file type and tensors per type.
    weight_mix: String,
    tensor_bytes: u64,
    has_dense_2: bool,
    has_dense_3: bool,
}

impl Summary {
    fn of(f: &GgufFile) -> Summary {
        let arch = f.get_str("general.architecture").ok().map(str::to_string);
        let arch_u64 = |k: &str| {
            let a = arch.as_deref()?;
            f.get_u64(&format!("{a}.{k}")).ok()
        };
        Summary {
            name: f.get_str("general.name").ok().map(str::to_string),
            n_layer: arch_u64("block_count"),
            n_embd: arch_u64("embedding_length"),
            n_ctx: arch_u64("context_length"),
            n_head: arch_u64("attention.head_count"),
            n_head_kv: arch_u64("attention.head_count_kv"),
            head_dim: arch_u64("attention.key_length"),
            n_ff: arch_u64("feed_forward_length"),
            n_vocab: f
                .get("tokenizer.ggml.tokens")
                .and_then(Value::as_array)
                .map(Array::len),
            file_type: f.get_u32("general.file_type").ok(),
            n_tensors: f.tensors().len(),
            weight_mix: f.weight_mix(),
            tensor_bytes: f.tensors().iter().map(|t| t.n_bytes).sum(),
            has_dense_2: f.tensor_info("dense_2.weight").is_some(),
            has_dense_3: f.tensor_info("dense_3.weight").is_some(),
            arch,
        }
    }
}

/// sha256 of every tensor's data, in file order, hashed on all cores.
fn tensor_hashes(f: &GgufFile) -> Vec<String> {
    let tensors = f.tensors();
    let n_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Interleave tensors over threads so big and small ones spread evenly.
    let mut hashes = vec![String::new(); tensors.len()];
    let parts: Vec<Vec<(usize, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n_threads)
            .map(|k| {
                s.spawn(move || {
                    (k..tensors.len())
                        .step_by(n_threads)
                        .map(|i| (i, gguf::sha256_hex(f.tensor_data(&tensors[i]))))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (i, h) in parts.into_iter().flatten() {
        hashes[i] = h;
    }
    hashes
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("-".to_string(), |v| v.to_string())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn file_type_text(ft: Option<u32>) -> String {
    match ft {
        Some(t) => format!("{t} ({})", gguf::file_type_name(t).unwrap_or("unknown")),
        None => "-".into(),
    }
}

fn write_text(
    out: &mut impl Write,
    args: &Args,
    f: &GgufFile,
    s: &Summary,
    hashes: Option<&[String]>,
) -> std::io::Result<()> {
    writeln!(out, "file:           {}", args.path().display())?;
    writeln!(
        out,
        "format:         GGUF v{}, {} bytes ({}), alignment {}, data at offset {}",
        f.version(),
        f.file_size(),
        mib(f.file_size()),
        f.alignment(),
        f.data_offset()
    )?;
    writeln!(out, "architecture:   {}", opt(&s.arch))?;
    writeln!(out, "name:           {}", opt(&s.name))?;
    writeln!(out, "layers:         {}", opt(&s.n_layer))?;
    writeln!(out, "n_embd:         {}", opt(&s.n_embd))?;
    writeln!(out, "n_ff:           {}", opt(&s.n_ff))?;
    writeln!(out, "context:        {}", opt(&s.n_ctx))?;
    writeln!(
        out,
        "heads:          {} (kv: {}), head dim {}",
        opt(&s.n_head),
        opt(&s.n_head_kv),
        opt(&s.head_dim)
    )?;
    writeln!(out, "vocab size:     {}", opt(&s.n_vocab))?;
    writeln!(out, "file type:      {}", file_type_text(s.file_type))?;
    writeln!(
        out,
        "tensors:        {} ({} bytes, {})",
        s.n_tensors,
        s.tensor_bytes,
        mib(s.tensor_bytes)
    )?;
    writeln!(out, "types:          {}", s.weight_mix)?;
    let yes = |b: bool| if b { "present" } else { "absent" };
    writeln!(
        out,
        "dense head:     dense_2 {}, dense_3 {}",
        yes(s.has_dense_2),
        yes(s.has_dense_3)
    )?;

    writeln!(out, "\nmetadata ({} keys):", f.metadata().len())?;
    let key_w = f.metadata().iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in f.metadata() {
        let ty = v.type_description();
        writeln!(out, "  {k:<key_w$}  {ty:<14} {}", value_text(v))?;
    }

    writeln!(out, "\ntensors ({}):", f.tensors().len())?;
    let name_w = f.tensors().iter().map(|t| t.name.len()).max().unwrap_or(4);
    let shapes: Vec<String> = f.tensors().iter().map(shape_text).collect();
    let shape_w = shapes.iter().map(String::len).max().unwrap_or(5);
    write!(
        out,
        "  {:<name_w$}  {:<7} {:<shape_w$} {:>12}",
        "name", "type", "shape", "bytes"
    )?;
    writeln!(out, "{}", if hashes.is_some() { "  sha256" } else { "" })?;
    for (i, t) in f.tensors().iter().enumerate() {
        write!(
            out,
            "  {:<name_w$}  {:<7} {:<shape_w$} {:>12}",
            t.name,
            t.ggml_type.name(),
            shapes[i],
            t.n_bytes
        )?;
        match hashes {
            Some(h) => writeln!(out, "  {}", h[i])?,
            None => writeln!(out)?,
        }
    }
    Ok(())
}

fn shape_text(t: &TensorInfo) -> String {
    let dims: Vec<String> = t.shape.iter().map(u64::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// A value on one line: long strings cut, arrays as length + first items.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => string_text(s),
        Value::Array(a) => {
            let items: Vec<String> = (0..a.len().min(HEAD_ITEMS))
                .filter_map(|i| a.get(i))
                .map(|x| match x {
                    Value::Array(inner) => format!("[{} items]", inner.len()),
                    x => value_text(&x),
                })
                .collect();
            let more = if a.len() > HEAD_ITEMS { ", ..." } else { "" };
            format!("len {}: [{}{more}]", a.len(), items.join(", "))
        }
        v => v.to_string(),
    }
}

fn string_text(s: &str) -> String {
    let n = s.chars().count();
    if n <= MAX_TEXT_CHARS {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX_TEXT_CHARS).collect();
        format!("{head:?}... ({n} chars)")
    }
}

fn to_json(args: &Args, f: &GgufFile, s: &Summary, hashes: Option<&[String]>) -> Json {
    let mut metadata = Map::new();
    for (k, v) in f.metadata() {
        metadata.insert(k.clone(), value_json(v));
    }
    let tensors: Vec<Json> = f
        .tensors()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut o = json!({
                "name": t.name,
                "type": t.ggml_type.name(),
                "shape": t.shape,
                "n_bytes": t.n_bytes,
                "offset": t.offset,
            });
            if let Some(h) = hashes {
                o["sha256"] = json!(h[i]);
            }
            o
        })
        .collect();
    json!({
        "file": args.path().display().to_string(),
        "file_size": f.file_size(),
        "version": f.version(),
        "alignment": f.alignment(),
        "data_offset": f.data_offset(),
        "summary": {
            "architecture": s.arch,
            "name": s.name,
            "block_count": s.n_layer,
            "embedding_length": s.n_embd,
            "feed_forward_length": s.n_ff,
            "context_length": s.n_ctx,
            "head_count": s.n_head,
            "head_count_kv": s.n_head_kv,
            "key_length": s.head_dim,
            "vocab_size": s.n_vocab,
            "file_type": s.file_type,
            "file_type_name": s.file_type.and_then(gguf::file_type_name),
            "tensor_count": s.n_tensors,
            "weight_mix": s.weight_mix,
            "type_counts": f.type_counts().iter()
                .map(|(t, n)| (t.name().to_string(), json!(n)))
                .collect::<Map<String, Json>>(),
            "tensor_bytes": s.tensor_bytes,
            "has_dense_2": s.has_dense_2,
            "has_dense_3": s.has_dense_3,
        },
        "metadata": metadata,
        "tensors": tensors,
    })
}

/// Scalars as JSON values; arrays (as in tests/data/gguf_manifest_q8_0.json) as element type,
/// length, sha256 of the on-disk element bytes and the first items.
fn value_json(v: &Value) -> Json {
    match v {
        Value::Array(a) => json!({
            "type": "array",
            "element_type": a.element_type_name(),
            "len": a.len(),
            "payload_sha256": gguf::sha256_hex(&a.payload_bytes()),
            "head": (0..a.len().min(HEAD_ITEMS))
                .filter_map(|i| a.get(i))
                .map(|x| value_json(&x))
                .collect::<Vec<_>>(),
        }),
        Value::String(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::F32(x) => float_json(*x as f64),
        Value::F64(x) => float_json(*x),
        v => match v.as_i128() {
            Some(i) if i >= 0 => json!(i as u64),
            Some(i) => json!(i as i64),
            None => Json::Null,
        },
    }
}

/// JSON has no NaN/inf: those become strings.
fn float_json(x: f64) -> Json {
    if x.is_finite() {
        json!(x)
    } else {
        json!(x.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gguf::{GgmlType, GgufError, GgufWriter};

    /// Writes a small gemma-embedding-like GGUF to a temp file and returns its path.
    fn small_model(name: &str) -> PathBuf {
        let mut w = GgufWriter::new();
        let kv = |w: &mut GgufWriter, k: &str, v: Value| w.add_kv(k, v).unwrap();
        kv(
            &mut w,
            "general.architecture",
            Value::String("gemma-embedding".into()),
        );
        kv(&mut w, "general.name", Value::String("tiny".into()));
        kv(&mut w, "gemma-embedding.block_count", Value::U32(2));
        kv(&mut w, "gemma-embedding.embedding_length", Value::U32(64));
        kv(&mut w, "gemma-embedding.context_length", Value::U32(128));
        kv(
            &mut w,
            "gemma-embedding.attention.head_count",
            Value::U32(4),
        );
        kv(&mut w, "general.file_type", Value::U32(7));
        kv(&mut w, "long.text", Value::String("x".repeat(500)));
        let tokens = (0..12).map(|i| format!("t{i}")).collect();
        kv(
            &mut w,
            "tokenizer.ggml.tokens",
            Value::Array(Array::String(tokens)),
        );
        w.add_tensor("token_embd.weight", GgmlType::Q8_0, &[64, 12])
            .unwrap();
        w.add_tensor("dense_2.weight", GgmlType::F32, &[64, 3])
            .unwrap();
        let sizes: Vec<u64> = w.tensors().iter().map(|t| t.n_bytes).collect();
        let path = std::env::temp_dir().join(format!(
            "ggufembed-inspect-test-{}-{name}.gguf",
            std::process::id()
        ));
        let mut out = Vec::new();
        w.write(&mut out, |i| {
            Ok::<_, GgufError>(vec![i as u8 + 1; sizes[i] as usize])
        })
        .unwrap();
        std::fs::write(&path, out).unwrap();
        path
    }

    fn args(file: PathBuf) -> Args {
        Args {
            file: Some(file),
            model: None,
            json: false,
            hashes: true,
        }
    }

    #[test]
    fn summary_text_and_json_describe_the_file() {
        let path = small_model("summary");
        let f = GgufFile::open(&path).unwrap();
        let s = Summary::of(&f);
        assert_eq!(s.arch.as_deref(), Some("gemma-embedding"));
        assert_eq!(
            (s.n_layer, s.n_embd, s.n_ctx, s.n_head),
            (Some(2), Some(64), Some(128), Some(4))
        );
        assert_eq!(
            (s.n_head_kv, s.n_vocab, s.file_type),
            (None, Some(12), Some(7))
        );
        assert_eq!(s.n_tensors, 2);
        assert_eq!(s.weight_mix, "Q8_0: F32×1, Q8_0×1");
        assert_eq!(s.tensor_bytes, 12 * 2 * 34 + 64 * 3 * 4);
        assert!(s.has_dense_2 && !s.has_dense_3);

        let hashes = tensor_hashes(&f);
        assert_eq!(hashes[1], gguf::sha256_hex(&vec![2u8; 64 * 3 * 4]));

        let mut text = Vec::new();
        write_text(&mut text, &args(path.clone()), &f, &s, Some(&hashes)).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("file type:      7 (MOSTLY_Q8_0)"), "{text}");
        assert!(text.contains("heads:          4 (kv: -)"), "{text}");
        assert!(text.contains("dense_2 present, dense_3 absent"), "{text}");
        assert!(
            text.contains(r#"len 12: ["t0", "t1", "t2", "t3", "t4", ...]"#),
            "{text}"
        );
        assert!(text.contains("... (500 chars)"), "{text}");
        let row = text.lines().find(|l| l.contains("dense_2.weight")).unwrap();
        assert!(
            row.contains("F32") && row.contains("[64, 3]") && row.contains(&hashes[1]),
            "{row}"
        );

        let doc = to_json(&args(path.clone()), &f, &s, Some(&hashes));
        assert_eq!(doc["summary"]["vocab_size"], 12);
        assert_eq!(doc["summary"]["has_dense_3"], false);
        assert_eq!(doc["summary"]["head_count_kv"], Json::Null);
        let tokens = &doc["metadata"]["tokenizer.ggml.tokens"];
        assert_eq!(tokens["len"], 12);
        assert_eq!(tokens["head"].as_array().unwrap().len(), HEAD_ITEMS);
        let payload = f
            .get("tokenizer.ggml.tokens")
            .unwrap()
            .as_array()
            .unwrap()
            .payload_bytes();
        assert_eq!(tokens["payload_sha256"], gguf::sha256_hex(&payload));
        assert_eq!(doc["tensors"][1]["sha256"], hashes[1].as_str());
        assert_eq!(doc["tensors"][0]["shape"], json!([64, 12]));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_a_one_line_error() {
        let path = small_model("corrupt");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 100);
        std::fs::write(&path, bytes).unwrap();
        match run(args(path.clone())) {
            Err(e @ CliError::File { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("dense_2.weight") && msg.contains("past the end"),
                    "{msg}"
                );
                // The error names the file, as every file error does.
                assert!(msg.starts_with(&format!("{}: ", path.display())), "{msg}");
                assert!(!msg.contains('\n'));
            }
            r => panic!("expected a GGUF error, got {:?}", r.map(|_| ())),
        }
        std::fs::remove_file(path).unwrap();
    }
}
