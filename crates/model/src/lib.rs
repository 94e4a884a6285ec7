//! EmbeddingGemma: config from metadata, weights, encoder, pooling, head, `Embedder`.
