"""LlamaIndex adapter: :class:`GgufEmbedding` is a ``llama_index.core`` ``BaseEmbedding``.

>>> from ggufembed.llama_index import GgufEmbedding
>>> from llama_index.core import Settings
>>> Settings.embed_model = GgufEmbedding()   # or GgufEmbedding(model="path.gguf", dims=256)

Queries get the ``query`` prompt, texts (nodes) the ``document`` prompt. Needs
``llama-index-core`` (``pip install llama-index-core``); importing this module without it raises
``ImportError`` naming the package.
"""

from __future__ import annotations

from typing import Any, List, Optional

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr
except ImportError as e:  # pragma: no cover - exercised only without llama-index-core
    raise ImportError(
        "ggufembed.llama_index needs llama-index-core: pip install llama-index-core"
    ) from e

from . import Embedder

__all__ = ["GgufEmbedding"]


class GgufEmbedding(BaseEmbedding):
    """LlamaIndex embeddings backed by an in-process :class:`ggufembed.Embedder`.

    Fields: ``model`` (GGUF path, registry name, or None = the default model), ``threads``,
    ``max_tokens``, ``dims`` (Matryoshka size, None = full), ``query_prompt_name``
    (default ``"query"``), ``document_prompt_name`` (default ``"document"``), and LlamaIndex's
    ``embed_batch_size`` (sentences per engine call). Pass ``embedder=`` to share an existing
    :class:`ggufembed.Embedder`.
    """

    model: Optional[str] = None
    threads: int = 0
    max_tokens: Optional[int] = None
    dims: Optional[int] = None
    query_prompt_name: Optional[str] = "query"
    document_prompt_name: Optional[str] = "document"

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Optional[Embedder] = None, **kwargs: Any) -> None:
        kwargs.setdefault("model_name", "ggufembed")
        super().__init__(**kwargs)
        self._embedder = (
            embedder
            if embedder is not None
            else Embedder(self.model, threads=self.threads, max_tokens=self.max_tokens)
        )

    @classmethod
    def class_name(cls) -> str:
        return "GgufEmbedding"

    def _encode(self, texts: List[str], prompt_name: Optional[str]) -> List[List[float]]:
        if not texts:
            return []
        return self._embedder.encode(
            list(texts),
            prompt_name=prompt_name,
            truncate_dim=self.dims,
            batch_size=max(1, int(self.embed_batch_size)),
        ).tolist()

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._encode([query], self.query_prompt_name)[0]

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._encode([text], self.document_prompt_name)[0]

    def _get_text_embeddings(self, texts: List[str]) -> List[List[float]]:
        return self._encode(texts, self.document_prompt_name)

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return self._get_query_embedding(query)

    async def _aget_text_embedding(self, text: str) -> List[float]:
        return self._get_text_embedding(text)
