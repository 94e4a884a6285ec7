#!/usr/bin/env python3
"""Builds two small random-weight encoder GGUFs (F32) and an exact float64 NumPy reference of
their embeddings, for crates/model/tests/random_models.rs.

  bert-cls.gguf    general.architecture = bert, CLS pooling (bert.pooling_type = 2), a
                   position table and two token types; exact erf GELU in the reference.
  nomic-bert.gguf  general.architecture = nomic-bert, fused attn_qkv, NeoX RoPE (base 1000),
                   SwiGLU, mean pooling (nomic-bert.pooling_type = 1).

Both carry a tiny WordPiece vocabulary in llama.cpp's layout (tokenizer.ggml.model = "bert",
word-start pieces stored with a leading U+2581, continuations without "##").

Writes into the directory of this script:
  bert-cls.gguf, nomic-bert.gguf
  tokens.jsonl          {"id", "token_ids"}: the token sequences ([CLS] ... [SEP])
  <model>.numpy.jsonl   {"id", "embedding"}: this script's float64 forward pass, L2-normalized

Deterministic (fixed seed). Needs: pip install gguf numpy.
Usage: python3 make.py
"""
import json
import math
import os

import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261130

N_EMBD, N_HEAD, N_LAYER, N_FF, N_CTX = 64, 4, 2, 128, 128
EPS = 1e-12
ROPE_BASE = 1000.0

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(5)
WORDS = ("the a of and to in is was he for it with as his on be at by i this had not are but "
         "from or have an they which one you were her all she there would their we him been has "
         "when who will more no if out so said what up its about into than them can only other "
         "new some could time these two may then do first any my now such like our over man me "
         "even most made after also did many before must through back years where much your way "
         "well down should because each just those people how too little state good very make "
         "world still own see men work long get here between both life being under never day "
         "same another know while last might us great old year off come since against go came "
         "right used take three").split()
LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?")
CONTINUATIONS = ["s", "ed", "ing", "ly", "er", "est", "ion", "al"]


def vocab():
    """(stored pieces, token types): specials as-is, word starts with U+2581, continuations bare."""
    pieces = list(SPECIALS)
    pieces += ["\u2581" + w for w in WORDS + LETTERS]
    pieces += CONTINUATIONS + LETTERS[:26]
    seen, out = set(), []
    for p in pieces:
        if p not in seen:
            seen.add(p)
            out.append(p)
    types = [3 if p in SPECIALS else 1 for p in out]
    return out, types


def sequences(n_vocab, rng):
    """A few dozen token sequences of lengths 1..N_CTX with [CLS] ... [SEP]."""
    lengths = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 23, 31, 32, 33, 40, 47, 63, 64, 65, 77, 96,
               100, 127, 128, 2, 3, 11, 50, 90, 128, 6]
    seqs = []
    for n in lengths:
        if n == 1:
            seqs.append([CLS])
            continue
        body = rng.integers(5, n_vocab, size=n - 2).tolist()
        seqs.append([CLS] + body + [SEP])
    # special ids inside the body, and a sequence of one repeated token
    seqs.append([CLS, UNK, PAD, MASK, 9, SEP])
    seqs.append([CLS] + [7] * 30 + [SEP])
    return seqs


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def layer_norm(x, w, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + EPS) * w + b


def gelu_erf(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_neox(x, base):
    """x: [n_tok, n_head, head_dim], positions 0..n_tok-1."""
    n_tok, _, hd = x.shape
    half = hd // 2
    inv = base ** (-2.0 * np.arange(half) / hd)
    ang = np.arange(n_tok)[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * c - b * s, b * c + a * s], axis=-1)


def attention(q, k, v):
    """q, k, v: [n_tok, n_embd]; all tokens see all tokens."""
    n_tok = q.shape[0]
    hd = N_EMBD // N_HEAD
    q, k, v = (t.reshape(n_tok, N_HEAD, hd) for t in (q, k, v))
    return q, k, v


def softmax_attn(q, k, v):
    n_tok, _, hd = q.shape
    s = np.einsum("ihd,jhd->hij", q, k) / math.sqrt(hd)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(-1, keepdims=True)
    return np.einsum("hij,jhd->ihd", p, v).reshape(n_tok, N_EMBD)


class Model:
    def __init__(self, arch, rng):
        self.arch = arch
        self.t = {}  # name -> float32 array in numpy (out, in) layout
        nomic = arch == "nomic-bert"
        pieces, _ = vocab()
        nv = len(pieces)
        t = self.t
        t["token_embd.weight"] = rand(rng, nv, N_EMBD)
        t["token_types.weight"] = rand(rng, 2, N_EMBD, scale=0.5)
        if not nomic:
            t["position_embd.weight"] = rand(rng, N_CTX, N_EMBD, scale=0.5)
        t["token_embd_norm.weight"] = 1.0 + rand(rng, N_EMBD, scale=0.1)
        t["token_embd_norm.bias"] = rand(rng, N_EMBD, scale=0.1)
        ws = 1.0 / math.sqrt(N_EMBD)
        for il in range(N_LAYER):
            p = f"blk.{il}."
            if nomic:
                t[p + "attn_qkv.weight"] = rand(rng, 3 * N_EMBD, N_EMBD, scale=ws)
            else:
                for n in "qkv":
                    t[p + f"attn_{n}.weight"] = rand(rng, N_EMBD, N_EMBD, scale=ws)
                    t[p + f"attn_{n}.bias"] = rand(rng, N_EMBD, scale=0.1)
            t[p + "attn_output.weight"] = rand(rng, N_EMBD, N_EMBD, scale=ws)
            if not nomic:
                t[p + "attn_output.bias"] = rand(rng, N_EMBD, scale=0.1)
            t[p + "attn_output_norm.weight"] = 1.0 + rand(rng, N_EMBD, scale=0.1)
            t[p + "attn_output_norm.bias"] = rand(rng, N_EMBD, scale=0.1)
            t[p + "ffn_up.weight"] = rand(rng, N_FF, N_EMBD, scale=ws)
            if nomic:
                t[p + "ffn_gate.weight"] = rand(rng, N_FF, N_EMBD, scale=ws)
            else:
                t[p + "ffn_up.bias"] = rand(rng, N_FF, scale=0.1)
            t[p + "ffn_down.weight"] = rand(rng, N_EMBD, N_FF, scale=1.0 / math.sqrt(N_FF))
            if not nomic:
                t[p + "ffn_down.bias"] = rand(rng, N_EMBD, scale=0.1)
            t[p + "layer_output_norm.weight"] = 1.0 + rand(rng, N_EMBD, scale=0.1)
            t[p + "layer_output_norm.bias"] = rand(rng, N_EMBD, scale=0.1)

    def write(self, path):
        pieces, types = vocab()
        a = self.arch
        w = gguf.GGUFWriter(path, a)
        w.add_name(f"random {a}")
        w.add_block_count(N_LAYER)
        w.add_context_length(N_CTX)
        w.add_embedding_length(N_EMBD)
        w.add_feed_forward_length(N_FF)
        w.add_head_count(N_HEAD)
        w.add_layer_norm_eps(EPS)
        w.add_causal_attention(False)
        w.add_pooling_type(gguf.PoolingType.MEAN if a == "nomic-bert" else gguf.PoolingType.CLS)
        if a == "nomic-bert":
            w.add_rope_freq_base(ROPE_BASE)
        w.add_file_type(gguf.LlamaFileType.ALL_F32)
        w.add_token_type_count(2)
        w.add_tokenizer_model("bert")
        w.add_tokenizer_pre("jina-v2-en")
        w.add_token_list(pieces)
        w.add_token_types(types)
        w.add_bos_token_id(CLS)
        w.add_eos_token_id(SEP)
        w.add_unk_token_id(UNK)
        w.add_sep_token_id(SEP)
        w.add_pad_token_id(PAD)
        w.add_mask_token_id(MASK)
        w.add_add_bos_token(True)
        w.add_add_eos_token(True)
        for name, arr in self.t.items():
            w.add_tensor(name, arr)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    def embed(self, ids):
        """float64 forward pass of one sequence (token type 0 everywhere), L2-normalized."""
        t = {k: v.astype(np.float64) for k, v in self.t.items()}
        nomic = self.arch == "nomic-bert"
        n = len(ids)
        x = t["token_embd.weight"][ids] + t["token_types.weight"][0]
        if not nomic:
            x = x + t["position_embd.weight"][:n]
        x = layer_norm(x, t["token_embd_norm.weight"], t["token_embd_norm.bias"])
        for il in range(N_LAYER):
            p = f"blk.{il}."
            if nomic:
                qkv = x @ t[p + "attn_qkv.weight"].T
                q, k, v = np.split(qkv, 3, axis=-1)
            else:
                q, k, v = (x @ t[p + f"attn_{c}.weight"].T + t[p + f"attn_{c}.bias"] for c in "qkv")
            q, k, v = attention(q, k, v)
            if nomic:
                q, k = rope_neox(q, ROPE_BASE), rope_neox(k, ROPE_BASE)
            a = softmax_attn(q, k, v) @ t[p + "attn_output.weight"].T
            if not nomic:
                a = a + t[p + "attn_output.bias"]
            x = layer_norm(x + a, t[p + "attn_output_norm.weight"], t[p + "attn_output_norm.bias"])
            if nomic:
                h = silu(x @ t[p + "ffn_gate.weight"].T) * (x @ t[p + "ffn_up.weight"].T)
                f = h @ t[p + "ffn_down.weight"].T
            else:
                h = gelu_erf(x @ t[p + "ffn_up.weight"].T + t[p + "ffn_up.bias"])
                f = h @ t[p + "ffn_down.weight"].T + t[p + "ffn_down.bias"]
            x = layer_norm(x + f, t[p + "layer_output_norm.weight"], t[p + "layer_output_norm.bias"])
        e = x.mean(0) if nomic else x[0]
        return e / np.linalg.norm(e)


def main():
    rng = np.random.default_rng(SEED)
    n_vocab = len(vocab()[0])
    seqs = sequences(n_vocab, rng)
    with open(os.path.join(HERE, "tokens.jsonl"), "w") as f:
        for i, s in enumerate(seqs):
            f.write(json.dumps({"id": i, "token_ids": s}) + "\n")
    for name, arch in [("bert-cls", "bert"), ("nomic-bert", "nomic-bert")]:
        m = Model(arch, rng)
        m.write(os.path.join(HERE, f"{name}.gguf"))
        with open(os.path.join(HERE, f"{name}.numpy.jsonl"), "w") as f:
            for i, s in enumerate(seqs):
                e = m.embed(s)
                f.write(json.dumps({"id": i, "embedding": [round(float(v), 8) for v in e]}) + "\n")
        print(f"{name}: {len(seqs)} sequences, vocab {n_vocab}")


if __name__ == "__main__":
    main()
