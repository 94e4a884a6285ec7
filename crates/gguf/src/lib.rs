//! GGUF v2/v3 reader (zero-copy over mmap) and writer.
//!
//! API CONTRACT (other crates build on these names; implementation pending):
//! - `GgmlType` (ids as in ggml.h; `block_size()`, `type_size()`, `name()`, `row_bytes(n)`).
//! - `Value` / `Array`: the 13 GGUF metadata value types.
//! - `GgufFile::open(path)`, `GgufFile::from_bytes(Vec<u8>)`, `metadata()`, `get(key)`,
//!   typed getters `get_u32/get_u64/get_f32/get_bool/get_str/get_str_array/get_f32_array/get_i32_array`
//!   (errors name the key), `tensors() -> &[TensorInfo]`, `tensor(name) -> Option<TensorView>`.
//! - `GgufWriter`: `new(alignment)`, `add_kv`, `add_tensor(name, type, shape)`,
//!   `write(out, |i| -> Result<Vec<u8>, E>)` streaming tensor data in order.
//! - `GgufError`: one typed error naming the key, tensor or byte offset.
