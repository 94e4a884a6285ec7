//! The `ggufembed` binary.
fn main() {
    println!("ggufembed: under construction");
}
