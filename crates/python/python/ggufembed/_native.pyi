"""Type stubs of the compiled engine (``ggufembed._native``); use ``ggufembed.Embedder``."""

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str
DEFAULT_MODEL: str

def pull(name: Optional[str] = None) -> str: ...
def model_names() -> List[str]: ...

class Engine:
    def __init__(
        self, model: Optional[str] = None, threads: int = 0, max_tokens: Optional[int] = None
    ) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def supported_dims(self) -> List[int]: ...
    @property
    def max_tokens(self) -> int: ...
    @max_tokens.setter
    def max_tokens(self, tokens: int) -> None: ...
    @property
    def prompts(self) -> List[Tuple[str, str]]: ...
    def info(self) -> Dict[str, Any]: ...
    def tokenize(
        self,
        texts: List[str],
        prompt_names: Optional[List[Optional[str]]] = None,
        titles: Optional[List[Optional[str]]] = None,
    ) -> List[List[int]]: ...
    def embed(
        self,
        texts: List[str],
        prompt_names: Optional[List[Optional[str]]] = None,
        titles: Optional[List[Optional[str]]] = None,
        dims: Optional[int] = None,
        normalize: bool = True,
        batch_size: int = 32,
        progress: bool = False,
    ) -> npt.NDArray[np.float32]:
        """float32 (len(texts), dims or n_embd)."""
        ...
