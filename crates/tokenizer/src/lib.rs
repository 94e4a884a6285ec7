//! SentencePiece tokenizer built from GGUF `tokenizer.ggml.*` metadata.
