//! Every integration test of this crate, one module per `tests/*.rs` file, in one test binary
//! (`autotests = false`; see `testkit::test_modules!`).

testkit::test_modules!(bench, embed, records);
