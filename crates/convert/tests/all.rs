//! Every integration test of this crate, one module per `tests/*.rs` file, in one test binary
//! (`autotests = false`; see `testkit::test_modules!`).

mod common;

testkit::test_modules!(
    bad_bert_dirs,
    bad_dirs,
    manifest,
    minilm_manifest,
    quantize,
    synthetic
);
