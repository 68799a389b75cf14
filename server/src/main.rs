//! faceid-server: placeholder until the server issue lands.
fn main() {
    eprintln!("faceid-server: not built yet");
    std::process::exit(2);
}
