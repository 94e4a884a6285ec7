//! `ggufembed serve`: OpenAI and TEI embedding APIs over axum.
