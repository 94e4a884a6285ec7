"""The LangChain and LlamaIndex adapters against the real libraries and the real model."""

import numpy as np
import pytest


def test_langchain(embedder):
    pytest.importorskip("langchain_core")
    from langchain_core.embeddings import Embeddings

    from ggufembed.langchain import GgufEmbeddings

    lc = GgufEmbeddings(embedder=embedder)
    assert isinstance(lc, Embeddings)
    docs = ["Mars is red.", "Venus is hot.", ""]
    got = lc.embed_documents(docs)
    want = embedder.encode(docs, prompt_name="document")
    assert isinstance(got, list) and isinstance(got[0][0], float)
    assert np.array_equal(np.asarray(got, dtype=np.float32), want)
    q = lc.embed_query("Which planet is red?")
    assert np.array_equal(np.asarray(q, dtype=np.float32), embedder.encode_query("Which planet is red?"))
    assert lc.embed_documents([]) == []
    # Matryoshka size and the async path LangChain provides on top.
    small = GgufEmbeddings(embedder=embedder, dims=256)
    assert len(small.embed_query("x")) == 256
    import asyncio

    assert asyncio.run(small.aembed_query("x")) == small.embed_query("x")


def test_llama_index(embedder, model_path):
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.embeddings.base import BaseEmbedding

    from ggufembed.llama_index import GgufEmbedding

    li = GgufEmbedding(embedder=embedder, embed_batch_size=2)
    assert isinstance(li, BaseEmbedding)
    texts = ["Mars is red.", "Venus is hot.", "Jupiter is big."]
    got = li.get_text_embedding_batch(texts)
    assert np.array_equal(np.asarray(got, dtype=np.float32), embedder.encode(texts, prompt_name="document"))
    q = li.get_query_embedding("Which planet is red?")
    assert np.array_equal(np.asarray(q, dtype=np.float32), embedder.encode_query("Which planet is red?"))
    one = li.get_text_embedding("Mars is red.")
    assert one == got[0]
    # Built from a path, with a Matryoshka size.
    own = GgufEmbedding(model=model_path, threads=1, dims=128)
    assert len(own.get_query_embedding("x")) == 128
    assert own.class_name() == "GgufEmbedding"
