//! `faceid-server`: see `faceid-server --help`. Every flag has an environment variable.

use std::time::Duration;

use clap::Parser;
use faceid_server::{logging, start, Args, ServerConfig};

/// After the server stopped, work still running on blocking threads (a verification whose client
/// was disconnected at the end of the grace period) gets this long; an attempt it leaves
/// unanswered is reopened at the next start.
const BLOCKING_WORK_GRACE: Duration = Duration::from_secs(2);

fn main() -> std::process::ExitCode {
    logging::init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("faceid-server: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(args));
    runtime.shutdown_timeout(BLOCKING_WORK_GRACE);
    code
}

async fn run(args: Args) -> std::process::ExitCode {
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
    println!(
        "  sensitive-field encryption public keys: {}/encryption/public-keys",
        server.base_url()
    );
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
