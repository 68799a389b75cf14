//! `faceid-server`: see `faceid-server --help`. Every flag has an environment variable.

use clap::Parser;
use faceid_server::{logging, start, Args, ServerConfig};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    logging::init();
    let args = Args::parse();
    let (config, generated) = match ServerConfig::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("faceid-server: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if generated {
        println!(
            "Generated cloud API credentials (stored in {}):\n  SecretId:  {}\n  SecretKey: {}",
            config
                .data_dir
                .join(faceid_server::config::CREDENTIALS_FILE)
                .display(),
            config.credentials.secret_id,
            config.credentials.secret_key
        );
    } else {
        println!("Cloud API SecretId: {}", config.credentials.secret_id);
    }
    let demo = config.demo;
    let server = match start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("faceid-server: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("faceid-server listening on http://{}", server.addr());
    println!("  cloud API: POST {}/", server.base_url());
    println!("  H5 page:   {}/h5/?token=<BizToken>", server.base_url());
    if demo {
        println!("  demo:      {}/demo", server.base_url());
    }
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                eprintln!("faceid-server: cannot listen for Ctrl-C: {e}");
            }
            println!("shutting down");
            match server.shutdown().await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("faceid-server: {e}");
                    std::process::ExitCode::from(1)
                }
            }
        }
    }
}
