//! Hugging Face EmbeddingGemma directory -> GGUF, identical to llama.cpp's converter.
