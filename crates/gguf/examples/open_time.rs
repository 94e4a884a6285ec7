//! Times `GgufFile::open` on a file: `cargo run -p gguf --example open_time -- FILE [N]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: open_time FILE [N]");
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut times = Vec::new();
    for _ in 0..n {
        let t = std::time::Instant::now();
        let f = gguf::GgufFile::open(std::path::Path::new(&path)).unwrap();
        times.push(t.elapsed());
        drop(f);
    }
    times.sort();
    println!("open x{n}: min {:?} median {:?}", times[0], times[n / 2]);
}
