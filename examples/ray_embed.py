"""Embed a corpus with ggufembed on Ray Data: one Embedder per actor, Parquet out.

    python examples/ray_embed.py corpus.jsonl out/ --concurrency 4 --cpus-per-actor 8

Input: a JSONL file (one object per line) or a Parquet file/directory with a ``text`` column and
an ``id`` column (any type; it is copied to the output so rows can be matched up, since Ray does
not keep row order). Optional columns: ``prompt_name`` (str or null, per row; default
``--prompt-name``) and ``title`` (str or null).

Output: Parquet files in the output directory with columns ``id`` and ``embedding``
(``fixed_size_list<float32>[dims]``), readable by any Parquet reader (pyarrow, pandas, Spark,
DuckDB).

Each actor holds one ``ggufembed.Embedder`` with as many compute threads as CPUs it reserves, so
``--concurrency N --cpus-per-actor C`` uses N*C cores. The same script runs on a Ray cluster:
start Ray on the machines (``ray start --head`` / ``ray start --address=HEAD:6379``), install
``ggufembed`` on each, put the corpus and the output on storage every node reaches (``s3://``,
``gs://``, NFS) and run it with ``RAY_ADDRESS=HEAD:6379``; ``--model`` must be a path that
exists on every node, or a registry name / nothing (each node pulls into its own cache).
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, Optional

import numpy as np
import pyarrow as pa


class EmbedBatch:
    """The map_batches callable: built once per actor, called on each batch (a pyarrow Table)."""

    def __init__(
        self,
        model: Optional[str],
        threads: int,
        prompt_name: Optional[str],
        dims: Optional[int],
        max_tokens: Optional[int] = None,
    ) -> None:
        import ggufembed

        self.embedder = ggufembed.Embedder(model, threads=threads, max_tokens=max_tokens)
        self.prompt_name = prompt_name
        self.dims = dims

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch.column("text").to_pylist()
        names = batch.schema.names
        prompts: Any = self.prompt_name
        if "prompt_name" in names:
            prompts = batch.column("prompt_name").to_pylist()
        titles = batch.column("title").to_pylist() if "title" in names else None
        vectors = self.embedder.encode(texts, prompt_name=prompts, titles=titles, truncate_dim=self.dims)
        dim = vectors.shape[1]
        flat = pa.array(np.ascontiguousarray(vectors).reshape(-1), type=pa.float32())
        return pa.table(
            {"id": batch.column("id"), "embedding": pa.FixedSizeListArray.from_arrays(flat, dim)}
        )


def embed_corpus(
    src: str,
    dst: str,
    *,
    model: Optional[str] = None,
    concurrency: int = 2,
    cpus_per_actor: int = 1,
    batch_size: int = 64,
    prompt_name: Optional[str] = None,
    dims: Optional[int] = None,
    max_tokens: Optional[int] = None,
) -> None:
    """Reads ``src`` (JSONL or Parquet), embeds it on ``concurrency`` actors of
    ``cpus_per_actor`` CPUs each (threads = CPUs), writes Parquet to ``dst``."""
    import ray

    # Reading and writing are light I/O tasks that reserve no CPU: every CPU goes to the actors,
    # and the reads still get scheduled while the actors hold all of them.
    if src.endswith((".jsonl", ".json", ".ndjson")):
        ds = ray.data.read_json(src, num_cpus=0)
    else:
        ds = ray.data.read_parquet(src, num_cpus=0)
    ds = ds.map_batches(
        EmbedBatch,
        fn_constructor_kwargs=dict(
            model=model, threads=cpus_per_actor, prompt_name=prompt_name, dims=dims, max_tokens=max_tokens
        ),
        batch_size=batch_size,
        batch_format="pyarrow",
        # A fixed pool of `concurrency` actors (older Ray spelled it `concurrency=N`).
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=cpus_per_actor,
    )
    ds.write_parquet(dst, ray_remote_args={"num_cpus": 0})


def main(argv: Optional[list] = None) -> Dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="JSONL file, or Parquet file/directory (columns id, text[, prompt_name, title])")
    p.add_argument("dst", help="output directory for Parquet files (id, embedding)")
    p.add_argument("--model", default=None, help="GGUF path or registry name (default: the default model)")
    p.add_argument("--concurrency", type=int, default=2, help="actors (one Embedder each)")
    p.add_argument("--cpus-per-actor", type=int, default=1, help="CPUs (= compute threads) per actor")
    p.add_argument("--batch-size", type=int, default=64, help="rows per map_batches call")
    p.add_argument("--prompt-name", default=None, help="prompt for rows without a prompt_name column")
    p.add_argument("--dims", type=int, default=None, help="Matryoshka output size (default: full)")
    p.add_argument("--max-tokens", type=int, default=None, help="truncate inputs to this many tokens")
    p.add_argument("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS or a local Ray)")
    a = p.parse_args(argv)

    import ray

    ray.init(address=a.address)
    embed_corpus(
        a.src,
        a.dst,
        model=a.model,
        concurrency=a.concurrency,
        cpus_per_actor=a.cpus_per_actor,
        batch_size=a.batch_size,
        prompt_name=a.prompt_name,
        dims=a.dims,
        max_tokens=a.max_tokens,
    )
    return vars(a)


if __name__ == "__main__":
    main()
