"""LangChain adapter: :class:`GgufEmbeddings` is a ``langchain_core.embeddings.Embeddings``.

>>> from ggufembed.langchain import GgufEmbeddings
>>> emb = GgufEmbeddings()                  # or GgufEmbeddings(model="path.gguf", dims=256)
>>> vectors = emb.embed_documents(["Mars is red."])   # the document prompt
>>> query = emb.embed_query("Which planet is red?")   # the query prompt

Needs ``langchain-core`` (``pip install langchain-core``); importing this module without it
raises ``ImportError`` naming the package.
"""

from __future__ import annotations

from typing import List, Optional

try:
    from langchain_core.embeddings import Embeddings
except ImportError as e:  # pragma: no cover - exercised only without langchain-core
    raise ImportError(
        "ggufembed.langchain needs langchain-core: pip install langchain-core"
    ) from e

from . import Embedder

__all__ = ["GgufEmbeddings"]


class GgufEmbeddings(Embeddings):
    """LangChain embeddings backed by an in-process :class:`ggufembed.Embedder`.

    Args:
        model: GGUF path, registry name, or None (the default model); ignored if ``embedder``
            is given.
        embedder: an existing :class:`ggufembed.Embedder` to share.
        threads, max_tokens: as for :class:`ggufembed.Embedder`.
        dims: Matryoshka output size (``truncate_dim``); None = full.
        batch_size: sentences per engine call.
        query_prompt_name / document_prompt_name: prompts used by ``embed_query`` /
            ``embed_documents`` (EmbeddingGemma's ``query`` and ``document`` by default).

    Vectors are lists of Python floats (the float32 values, widened exactly).
    """

    def __init__(
        self,
        model: Optional[str] = None,
        *,
        embedder: Optional[Embedder] = None,
        threads: int = 0,
        max_tokens: Optional[int] = None,
        dims: Optional[int] = None,
        batch_size: int = 32,
        query_prompt_name: Optional[str] = "query",
        document_prompt_name: Optional[str] = "document",
    ) -> None:
        self.embedder = embedder if embedder is not None else Embedder(model, threads=threads, max_tokens=max_tokens)
        self.dims = dims
        self.batch_size = batch_size
        self.query_prompt_name = query_prompt_name
        self.document_prompt_name = document_prompt_name

    def embed_documents(self, texts: List[str]) -> List[List[float]]:
        """One vector per text, with the document prompt."""
        if not texts:
            return []
        out = self.embedder.encode(
            list(texts),
            prompt_name=self.document_prompt_name,
            truncate_dim=self.dims,
            batch_size=self.batch_size,
        )
        return out.tolist()

    def embed_query(self, text: str) -> List[float]:
        """The vector of one query, with the query prompt."""
        out = self.embedder.encode(
            [text],
            prompt_name=self.query_prompt_name,
            truncate_dim=self.dims,
            batch_size=self.batch_size,
        )
        return out[0].tolist()
