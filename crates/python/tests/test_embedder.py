"""ggufembed.Embedder against the real model and the `ggufembed embed` CLI."""

import os
import pickle
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import ggufembed


def cli_vectors(cli_bin, model_path, tmp_path, args, stdin=None):
    """Runs `ggufembed embed ... --format npy` and returns its float32 (n, dim) array."""
    out = tmp_path / "cli.npy"
    cmd = [cli_bin, "embed", "--model", model_path, "--threads", "2", "--format", "npy", "-o", str(out)]
    r = subprocess.run(cmd + args, input=stdin, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.load(out)


def assert_same_bits(a, b):
    assert a.dtype == np.float32 and b.dtype == np.float32
    assert a.shape == b.shape
    diff = np.nonzero(a.view(np.uint32) != b.view(np.uint32))
    assert diff[0].size == 0, f"{diff[0].size} components differ, first at {list(zip(*diff))[:3]}"


def test_corpus_equals_cli_bit_for_bit(embedder, cli_bin, model_path, corpus, tmp_path):
    # The corpus's own per-record prompts (query / document / none), full dims.
    from conftest import CORPUS

    want = cli_vectors(cli_bin, model_path, tmp_path, ["--input", str(CORPUS)])
    got = embedder.encode(
        [r["text"] for r in corpus], prompt_name=[r.get("prompt_name") for r in corpus]
    )
    assert got.shape == (len(corpus), 768)
    assert_same_bits(got, want)
    norms = np.linalg.norm(got, axis=1)
    assert np.all(np.abs(norms - 1) < 1e-5)


def test_titles_dims_and_raw_vectors_equal_cli(embedder, cli_bin, model_path, corpus, tmp_path):
    texts = [r["text"] for r in corpus if "\n" not in r["text"] and 0 < len(r["text"]) < 400][:24]
    stdin = "\n".join(texts) + "\n"
    want = cli_vectors(
        cli_bin, model_path, tmp_path,
        ["--prompt-name", "document", "--title", "Ein Titel | x", "--dims", "128"], stdin,
    )
    got = embedder.encode_document(texts, titles="Ein Titel | x", truncate_dim=128)
    assert got.shape == (len(texts), 128)
    assert_same_bits(got, want)

    want = cli_vectors(
        cli_bin, model_path, tmp_path, ["--prompt-name", "STS", "--dims", "512", "--no-normalize"], stdin
    )
    got = embedder.encode(texts, prompt_name="STS", truncate_dim=512, normalize_embeddings=False)
    assert_same_bits(got, want)
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0)


def test_shapes_and_batching(embedder):
    one = embedder.encode("hi")
    assert one.shape == (768,) and one.dtype == np.float32
    assert embedder.encode([]).shape == (0, 768)
    texts = [f"sentence number {i} " * (i % 7 + 1) for i in range(13)]
    a = embedder.encode(texts, batch_size=1)
    b = embedder.encode(texts, batch_size=5)
    c = embedder.encode(tuple(texts), batch_size=64)
    assert_same_bits(a, b)
    assert_same_bits(a, c)
    assert_same_bits(a[3], embedder.encode(texts[3]))


def test_prompts_and_literal_prompt(embedder):
    assert embedder.prompts["query"] == "task: search result | query: "
    q = embedder.encode_query("Which planet is red?")
    assert_same_bits(q, embedder.encode("Which planet is red?", prompt_name="query"))
    # A literal prompt equal to the query prompt's text gives the same vector.
    assert_same_bits(q, embedder.encode("Which planet is red?", prompt=embedder.prompts["query"]))
    with pytest.warns(UserWarning, match="Ignoring the `prompt_name`"):
        v = embedder.encode("Which planet is red?", prompt=embedder.prompts["query"], prompt_name="STS")
    assert_same_bits(q, v)
    d = embedder.encode_document("Mars is red.")
    assert_same_bits(d, embedder.encode("Mars is red.", prompt_name="document"))
    assert not np.array_equal(q, embedder.encode("Which planet is red?"))


def test_precisions_follow_sentence_transformers(embedder):
    texts = [f"text {i}: {'abc ' * i}" for i in range(20)]
    f = embedder.encode(texts)
    lo, hi = f.min(axis=0), f.max(axis=0)

    u = embedder.encode(texts, precision="uint8")
    assert u.dtype == np.uint8 and u.shape == f.shape
    # Each dimension's minimum maps to 0, its maximum to 255 (ranges from these embeddings).
    assert np.all(u[f.argmin(axis=0), np.arange(768)] == 0)
    assert np.all(u[f.argmax(axis=0), np.arange(768)] >= 254)
    # Monotonic per dimension, and the bucket matches the float position within one step.
    pos = (f - lo) / (hi - lo) * 255
    assert np.all(np.abs(u.astype(np.float64) - pos) <= 1.0001)

    i8 = embedder.encode(texts, precision="int8")
    assert i8.dtype == np.int8
    # int8 is the same bucket position shifted by 128 before truncating toward zero, so it
    # may sit one above uint8 - 128 below the midpoint; the extremes map to -128 and 127.
    shift = i8.astype(np.int16) - (u.astype(np.int16) - 128)
    assert np.all((shift == 0) | ((shift == 1) & (u < 128)))
    assert np.all(i8[f.argmin(axis=0), np.arange(768)] == -128)
    assert np.all(i8[f.argmax(axis=0), np.arange(768)] >= 126)

    ub = embedder.encode(texts, precision="ubinary")
    assert ub.dtype == np.uint8 and ub.shape == (20, 96)
    assert np.array_equal(np.unpackbits(ub, axis=1).astype(bool), f > 0)
    b = embedder.encode(texts, precision="binary")
    assert b.dtype == np.int8 and b.shape == (20, 96)
    assert np.array_equal(b.astype(np.int16) + 128, ub.astype(np.int16))
    assert embedder.encode("x", precision="ubinary", truncate_dim=128).shape == (16,)


def test_tokenize_matches_reference_ids(embedder, corpus):
    import json

    from conftest import ROOT

    ref = {}
    with open(ROOT / "tests" / "data" / "corpus_tokens.jsonl") as fh:
        for line in fh:
            r = json.loads(line)
            ref[r["id"]] = r["token_ids"]
    rows = [r for r in corpus if len(ref[r["id"]]) <= embedder.max_seq_length][:60]
    ids = embedder.tokenize([r["text"] for r in rows], prompt_name=[r.get("prompt_name") for r in rows])
    assert ids == [ref[r["id"]] for r in rows]
    hi = embedder.tokenize("hi")
    assert len(hi) == 1 and hi[0][0] == 2 and hi[0][-1] == 1


def test_max_tokens_truncates(model_path):
    e = ggufembed.Embedder(model_path, threads=1, max_tokens=16)
    assert e.max_seq_length == 16
    long = "word " * 100
    ids = e.tokenize(long)[0]
    assert len(ids) == 16 and ids[0] == 2 and ids[-1] == 1
    full = ggufembed.Embedder(model_path, threads=1)
    # Only the first 16 tokens count: a different tail gives the same vector.
    assert np.array_equal(e.encode(long), e.encode(long + " and a different tail"))
    assert not np.array_equal(full.encode(long), full.encode(long + " and a different tail"))
    e.max_seq_length = 2048
    assert len(e.tokenize(long)[0]) > 16
    with pytest.raises(ValueError, match="max_tokens"):
        e.max_seq_length = 1
    with pytest.raises(ValueError, match="max_tokens"):
        ggufembed.Embedder(model_path, max_tokens=5000)
    assert full.max_seq_length == 2048


def test_info(embedder, model_path):
    info = embedder.info
    assert info["arch"] == "gemma-embedding"
    assert info["dims"] == embedder.dims == 768
    assert info["supported_dims"] == embedder.supported_dims == [768, 512, 256, 128]
    assert info["max_input_length"] == 2048
    assert info["quantization"] == "Q8_0"
    assert info["dense_head"] is True
    assert info["prompts"] == embedder.prompts
    assert info["threads"] == 2 == embedder.threads
    assert info["path"] == model_path == embedder.model_path
    assert embedder.get_sentence_embedding_dimension() == 768


def test_errors(embedder, tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such.gguf"):
        ggufembed.Embedder(str(tmp_path / "no-such.gguf"))
    with pytest.raises(FileNotFoundError, match="not a known model name"):
        ggufembed.Embedder("not-a-model-name")
    with pytest.raises(ValueError, match="directory"):
        ggufembed.Embedder(str(tmp_path))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    with pytest.raises(RuntimeError, match="bad.gguf"):
        ggufembed.Embedder(str(bad))
    with pytest.raises(ValueError, match="unknown prompt name .nope."):
        embedder.encode("x", prompt_name="nope")
    with pytest.raises(ValueError, match="unsupported dims 100"):
        embedder.encode("x", truncate_dim=100)
    with pytest.raises(ValueError, match="title only applies"):
        embedder.encode("x", prompt_name="query", titles="T")
    with pytest.raises(ValueError, match="precision 'float16'"):
        embedder.encode("x", precision="float16")
    with pytest.raises(ValueError, match="batch_size"):
        embedder.encode("x", batch_size=0)
    with pytest.raises(ValueError, match="3 entries for 2"):
        embedder.encode(["a", "b"], prompt_name=["query", None, None])
    with pytest.raises(TypeError, match=r"sentences\[1\] must be str"):
        embedder.encode(["a", 3])
    with pytest.raises(TypeError):
        embedder.encode(b"bytes")
    with pytest.raises(TypeError):
        embedder.encode(42)
    with pytest.raises(ValueError, match="threads"):
        ggufembed.Embedder(embedder.model_path, threads=-1)
    with pytest.raises(ValueError, match="unknown model .no-such-model."):
        ggufembed.pull("no-such-model")
    # The engine is still fine after errors.
    assert embedder.encode("x").shape == (768,)


def test_threads_share_one_embedder(embedder):
    texts = [f"thread test {i} " + "lorem ipsum " * (i % 5) for i in range(24)]
    want = embedder.encode(texts, batch_size=4)
    results = {}
    errors = []

    def work(k):
        try:
            results[k] = embedder.encode(texts, batch_size=3 + k)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    # The GIL is released while the engine computes: this thread keeps running meanwhile.
    ticks = 0
    while any(t.is_alive() for t in threads):
        ticks += 1
        time.sleep(0.001)
    for t in threads:
        t.join()
    assert not errors, errors
    assert ticks > 10
    for k in range(4):
        assert_same_bits(results[k], want)


def test_pickle_round_trip(embedder, model_path):
    e = ggufembed.Embedder(model_path, threads=1, max_tokens=512)
    e2 = pickle.loads(pickle.dumps(e))
    assert e2.model_path == os.path.abspath(model_path)
    assert e2.max_seq_length == 512 and e2.threads == 1
    assert_same_bits(e2.encode("pickled"), embedder.encode("pickled"))


def test_ctrl_c_interrupts_a_long_encode(embedder):
    texts = ["a fairly long sentence to keep the engine busy for a while " * 8] * 2000
    # SIGINT from another thread after 1 s, repeated every 0.5 s until the encode has raised (on
    # a loaded machine the first one has been seen to arrive late); the handler raises
    # KeyboardInterrupt once, as Python's default one does, and ignores the stragglers so none
    # escapes into pytest after the check.
    raised = threading.Event()

    def on_sigint(signum, frame):
        if not raised.is_set():
            raised.set()
            raise KeyboardInterrupt

    def send():
        time.sleep(1.0)
        while not stop.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            stop.wait(0.5)

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, on_sigint)
    sender = threading.Thread(target=send)
    try:
        t0 = time.monotonic()
        sender.start()
        with pytest.raises(KeyboardInterrupt):
            embedder.encode(texts, batch_size=4)
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        sender.join()
        signal.signal(signal.SIGINT, previous)
    # 2000 such texts take minutes; the interrupt lands within a batch or two.
    assert elapsed < 30, elapsed
    assert embedder.encode("still works").shape == (768,)


def test_default_model_name_resolves(model_path):
    # `pull()` returns the cached default model; with GGUFEMBED_MODEL pointing at the cache's
    # copy they are the same file.
    assert ggufembed.model_names()[0] == "embeddinggemma-300m"
    p = ggufembed.pull()
    assert os.path.basename(p) == "embeddinggemma-300M-Q8_0.gguf"
    assert os.path.exists(p)
