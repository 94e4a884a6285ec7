//! Every integration test of this crate, one module per `tests/*.rs` file, in one test binary
//! (`autotests = false`; see `testkit::test_modules!`).

mod common;

testkit::test_modules!(corrupt, mutate, python_compat, real_model, roundtrip);
