//! faceid-eval: decision quality over simulated sessions (in progress).
fn main() {
    eprintln!("faceid-eval: not built yet");
    std::process::exit(2);
}
