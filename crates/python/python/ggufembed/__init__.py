"""ggufembed: text embeddings on the CPU, straight from GGUF files, in-process.

>>> import ggufembed
>>> model = ggufembed.Embedder()            # the default model, pulled on first use
>>> model.encode("Which planet is red?").shape
(768,)
>>> model.encode_query(["a", "b"], truncate_dim=256).shape
(2, 256)

The API follows sentence-transformers (``SentenceTransformer.encode``) and returns numpy arrays.
Vectors equal those of ``ggufembed embed`` (the CLI) and the HTTP server bit for bit.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _native
from ._native import model_names

__all__ = ["Embedder", "pull", "model_names", "quantize_embeddings", "__version__"]

__version__: str = _native.__version__

PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")


def pull(name: Optional[str] = None) -> str:
    """Make sure a model is in the local cache and return the path of its GGUF file.

    ``name`` is a registry name (see :func:`model_names`); ``None`` is the default model
    (EmbeddingGemma-300M, Q8_0). A model not cached yet is fetched once, with a progress bar on
    stderr. The cache is ``$GGUFEMBED_HOME``, else ``~/.cache/ggufembed``.

    Raises ``ValueError`` for an unknown name, ``RuntimeError`` when every source fails.
    """
    return _native.pull(name)


def quantize_embeddings(embeddings: np.ndarray, precision: str) -> np.ndarray:
    """Quantize float embeddings ``(n, dim)`` as sentence-transformers'
    ``quantize_embeddings(embeddings, precision)`` does (no ``ranges`` / calibration set given):

    - ``"float32"``: unchanged, float32 ``(n, dim)``.
    - ``"uint8"``: per dimension, ``(x - min) / ((max - min) / 255)`` truncated to uint8, where
      min/max are taken over the ``n`` embeddings themselves (a dimension where all values are
      equal divides by zero, exactly like sentence-transformers).
    - ``"int8"``: the same value minus 128, as int8.
    - ``"ubinary"``: ``numpy.packbits(x > 0)`` per row, uint8 ``(n, dim / 8)``.
    - ``"binary"``: the ``ubinary`` bytes minus 128, as int8 ``(n, dim / 8)``.

    Raises ``ValueError`` for any other precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision {precision!r} is not supported; choose one of {', '.join(PRECISIONS)}"
        )
    emb = np.asarray(embeddings)
    if emb.dtype in (np.uint8, np.int8):
        raise ValueError("embeddings to quantize must be float, not int8 or uint8")
    if precision == "float32":
        return emb.astype(np.float32)
    if precision in ("int8", "uint8"):
        lo = np.min(emb, axis=0)
        hi = np.max(emb, axis=0)
        steps = (hi - lo) / 255
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = (emb - lo) / steps
            if precision == "uint8":
                return scaled.astype(np.uint8)
            return (scaled - 128).astype(np.int8)
    bits = np.packbits(emb > 0).reshape(emb.shape[0], -1)
    if precision == "ubinary":
        return bits
    return (bits.astype(np.int16) - 128).astype(np.int8)


def _texts(sentences: Union[str, Sequence[str]], what: str = "sentences") -> List[str]:
    if isinstance(sentences, str):
        return [sentences]
    if isinstance(sentences, (bytes, bytearray)):
        raise TypeError(f"{what} must be str or a sequence of str, not bytes (decode them first)")
    try:
        texts = list(sentences)
    except TypeError:
        raise TypeError(
            f"{what} must be str or a sequence of str, not {type(sentences).__name__}"
        ) from None
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] must be str, not {type(t).__name__}")
    return texts


def _per_input(value: Any, n: int, what: str) -> Optional[List[Optional[str]]]:
    """None, one str for all, or one str/None per input."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} entries for {n} sentences; give one per sentence")
    for i, v in enumerate(values):
        if v is not None and not isinstance(v, str):
            raise TypeError(f"{what}[{i}] must be str or None, not {type(v).__name__}")
    return values


class Embedder:
    """A GGUF embedding model, loaded in this process.

    Args:
        model: a path to a GGUF file, a registry name (see :func:`model_names`), or ``None`` for
            the default model (EmbeddingGemma-300M Q8_0), pulled into the cache on first use with
            a progress bar on stderr.
        threads: compute threads; 0 = all available cores.
        max_tokens: most tokens per input, BOS/EOS and prompt included (sentence-transformers'
            ``max_seq_length``); longer inputs are truncated (first tokens kept, EOS last).
            ``None`` = the model's context (2048 for EmbeddingGemma).

    Raises ``FileNotFoundError`` for a path that does not exist, ``ValueError`` for an unknown
    model name or an out-of-range ``max_tokens``, ``RuntimeError`` when the file is not a usable
    model (the message names the key or tensor that failed).

    One instance may be shared by several Python threads: calls release the GIL while computing
    and take turns on the model one batch at a time. The object pickles as its model path (or
    name) and options, so multiprocessing, Ray and Spark can ship it; the receiver reopens the
    file.
    """

    def __init__(
        self,
        model: Optional[Union[str, "os.PathLike[str]"]] = None,
        *,
        threads: int = 0,
        max_tokens: Optional[int] = None,
    ) -> None:
        if model is not None and not isinstance(model, str):
            if isinstance(model, os.PathLike):
                model = os.fspath(model)
            else:
                raise TypeError(f"model must be a str path or name, or None, not {type(model).__name__}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an int >= 0 (0 = all cores), not {threads!r}")
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
            raise TypeError(f"max_tokens must be an int or None, not {type(max_tokens).__name__}")
        self._engine = _native.Engine(model, threads, max_tokens)
        # What pickling sends: names (and None) stay names, so the receiver uses its own cache;
        # paths become absolute.
        if model is None or not os.path.exists(model):
            self._model_arg = model
        else:
            self._model_arg = os.path.abspath(model)
        self._threads = threads

    # --- pickling -------------------------------------------------------------------------
    def __reduce__(self):
        return (_restore, (self._model_arg, self._threads, self.max_seq_length))

    def __repr__(self) -> str:
        return (
            f"Embedder({self.model_path!r}, threads={self._threads}, "
            f"max_tokens={self.max_seq_length})"
        )

    # --- facts ----------------------------------------------------------------------------
    @property
    def model_path(self) -> str:
        """The GGUF file in use."""
        return self._engine.path

    @property
    def info(self) -> Dict[str, Any]:
        """Facts about the model: the HTTP server's ``/info`` keys where they apply
        (``model_id``, ``arch``, ``dims``, ``supported_dims``, ``n_embd``, ``max_input_length``,
        ``n_vocab``, ``quantization``, ``dense_head``, ``prompts``, ``version``) plus ``path``,
        ``name``, ``n_layer``, ``max_seq_length``, ``token_embd_type``, ``threads``,
        ``packed_bytes`` / ``scratch_bytes`` (bytes of memory) and ``warnings``."""
        return self._engine.info()

    @property
    def dims(self) -> int:
        """Length of a full output vector (768 for EmbeddingGemma)."""
        return self._engine.supported_dims[0]

    @property
    def supported_dims(self) -> List[int]:
        """Values ``truncate_dim`` may take (Matryoshka), full size first."""
        return list(self._engine.supported_dims)

    def get_sentence_embedding_dimension(self) -> int:
        """sentence-transformers' name for :attr:`dims`."""
        return self.dims

    @property
    def max_seq_length(self) -> int:
        """Most tokens per input (BOS/EOS and prompt included); longer inputs are truncated.
        Settable, from 2 to the model's context."""
        return self._engine.max_tokens

    @max_seq_length.setter
    def max_seq_length(self, tokens: int) -> None:
        self._engine.max_tokens = tokens

    @property
    def prompts(self) -> Dict[str, str]:
        """Prompt names and the text each prepends (e.g. ``{"query": "task: search result |
        query: ", ...}``)."""
        return dict(self._engine.prompts)

    @property
    def threads(self) -> int:
        """Compute threads in use."""
        return self._engine.info()["threads"]

    # --- work -----------------------------------------------------------------------------
    def tokenize(
        self,
        texts: Union[str, Sequence[str]],
        *,
        prompt_name: Optional[Union[str, Sequence[Optional[str]]]] = None,
    ) -> List[List[int]]:
        """Token ids the encoder sees for each text: BOS/EOS and the prompt (if any) included,
        truncated to :attr:`max_seq_length`. A single str is one text. No compute."""
        items = _texts(texts, "texts")
        names = _per_input(prompt_name, len(items), "prompt_name")
        return self._engine.tokenize(items, names, None)

    def encode(
        self,
        sentences: Union[str, Sequence[str]],
        *,
        prompt_name: Optional[Union[str, Sequence[Optional[str]]]] = None,
        prompt: Optional[str] = None,
        titles: Optional[Union[str, Sequence[Optional[str]]]] = None,
        truncate_dim: Optional[int] = None,
        batch_size: int = 32,
        normalize_embeddings: bool = True,
        show_progress_bar: Optional[bool] = None,
        precision: str = "float32",
        convert_to_numpy: bool = True,
    ) -> np.ndarray:
        """Embed sentences.

        Args:
            sentences: one str, or a sequence of str.
            prompt_name: a name from :attr:`prompts` (``"query"``, ``"document"``, ``"STS"``, ...)
                whose text is prepended; a sequence gives one name (or None) per sentence.
                ``None`` = no prompt (or the document prompt when ``titles`` are given).
            prompt: a literal prompt text to prepend instead; when both are given ``prompt``
                wins (with a warning), as in sentence-transformers.
            titles: document titles, one str for all or one (or None) per sentence; the document
                prompt becomes ``title: {title} | text: ``.
            truncate_dim: Matryoshka output size, one of :attr:`supported_dims`; None = full.
            batch_size: sentences per engine call; between calls Ctrl-C is honoured and the
                progress bar advances. Results do not depend on it.
            normalize_embeddings: L2-normalize each vector (default). ``False`` returns the
                model head's raw output (its first ``truncate_dim`` components), as
                ``ggufembed embed --no-normalize`` does.
            show_progress_bar: draw a progress bar (inputs, tokens/s, ETA) on stderr;
                ``None`` = no bar.
            precision: ``"float32"`` (default), or ``"int8"``, ``"uint8"``, ``"binary"``,
                ``"ubinary"`` as in :func:`quantize_embeddings` (int8/uint8 ranges come from
                the embeddings of this call).
            convert_to_numpy: accepted for compatibility; the result is always a numpy array.

        Returns:
            float32 array of shape ``(len(sentences), dim)`` — ``(dim,)`` for a single str —
            where ``dim`` is ``truncate_dim`` or :attr:`dims`; unit-length rows unless
            ``normalize_embeddings=False``. Quantized precisions return int8/uint8 arrays of
            shape ``(n, dim)`` (int8/uint8) or ``(n, dim / 8)`` (binary/ubinary).

        Raises:
            ValueError: unknown prompt name, unsupported ``truncate_dim``, a title with a
                non-document prompt, bad ``precision`` or ``batch_size``, mismatched lengths.
            TypeError: sentences that are not str.
            RuntimeError: anything else the engine reports.
            KeyboardInterrupt: Ctrl-C during a long call (between batches).
        """
        single = isinstance(sentences, str)
        items = _texts(sentences)
        n = len(items)
        if precision not in PRECISIONS:
            raise ValueError(
                f"precision {precision!r} is not supported; choose one of {', '.join(PRECISIONS)}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, not {batch_size!r}")
        if truncate_dim is not None and (isinstance(truncate_dim, bool) or not isinstance(truncate_dim, (int, np.integer))):
            raise TypeError(f"truncate_dim must be an int or None, not {type(truncate_dim).__name__}")
        if prompt is not None:
            if not isinstance(prompt, str):
                raise TypeError(f"prompt must be str, not {type(prompt).__name__}")
            if prompt_name is not None:
                warnings.warn(
                    "Encode with either a `prompt`, a `prompt_name`, or neither, but not both. "
                    "Ignoring the `prompt_name` in favor of `prompt`.",
                    stacklevel=2,
                )
            if titles is not None:
                raise ValueError("titles apply to the document prompt; they cannot be combined with a literal `prompt`")
            items = [prompt + t for t in items]
            names = None
        else:
            names = _per_input(prompt_name, n, "prompt_name")
        title_list = _per_input(titles, n, "titles")
        out = self._engine.embed(
            items,
            names,
            title_list,
            None if truncate_dim is None else int(truncate_dim),
            bool(normalize_embeddings),
            batch_size,
            bool(show_progress_bar),
        )
        if precision != "float32":
            out = quantize_embeddings(out, precision)
        return out[0] if single else out

    def encode_query(self, sentences: Union[str, Sequence[str]], **kwargs: Any) -> np.ndarray:
        """:meth:`encode` with the ``query`` prompt (unless ``prompt`` or ``prompt_name`` is
        given), as in sentence-transformers."""
        if kwargs.get("prompt") is None and kwargs.get("prompt_name") is None:
            kwargs["prompt_name"] = "query"
        return self.encode(sentences, **kwargs)

    def encode_document(self, sentences: Union[str, Sequence[str]], **kwargs: Any) -> np.ndarray:
        """:meth:`encode` with the ``document`` prompt (unless ``prompt`` or ``prompt_name`` is
        given), as in sentence-transformers; ``titles=`` fill its title slot."""
        if kwargs.get("prompt") is None and kwargs.get("prompt_name") is None:
            kwargs["prompt_name"] = "document"
        return self.encode(sentences, **kwargs)


def _restore(model: Optional[str], threads: int, max_tokens: int) -> Embedder:
    """Unpickle an :class:`Embedder` (reopens the model)."""
    return Embedder(model, threads=threads, max_tokens=max_tokens)
