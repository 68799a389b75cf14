//! Files and directories only the server's own user may read. The data directory holds personal
//! data (names, ID numbers, face videos) and secrets (credentials, private keys), so it is created
//! 0700 and every file in it 0600, whatever the process umask (a default 022 made them 0755/0644).

use std::io::ErrorKind;
use std::path::Path;

/// Owner only: read, write, enter.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Owner only: read, write.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) and makes it owner-only, also when it already existed.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder.create(dir)?;
    set_mode(dir, PRIVATE_DIR_MODE)
}

/// Options that create (or truncate) a file for writing, owner-only from its first byte.
pub fn write_options() -> std::fs::OpenOptions {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(PRIVATE_FILE_MODE);
    }
    opts
}

/// The same for async writers.
pub async fn create_file_async(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::from(write_options())
        .open(path)
        .await
}

/// Creates `path` owner-only if it does not exist (never truncating it), and makes it owner-only if
/// it does.
pub fn ensure_file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(PRIVATE_FILE_MODE);
    }
    opts.open(path)?;
    restrict_file(path)
}

/// Why [`read_or_create`] failed: the file system, or `create` itself.
#[derive(Debug)]
pub enum SecretFileError<E> {
    Io(std::io::Error),
    Create(E),
}

/// A secret kept in a file (credentials, private keys): the file's bytes if it exists (made
/// owner-only), else what `create` makes, written owner-only from the first byte and never over a
/// file that appeared meanwhile. The bool says whether it was created now.
pub fn read_or_create<E>(
    path: &Path,
    create: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<(Vec<u8>, bool), SecretFileError<E>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            restrict_file(path).map_err(SecretFileError::Io)?;
            Ok((bytes, false))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let bytes = create().map_err(SecretFileError::Create)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(PRIVATE_FILE_MODE);
            }
            let mut file = opts.open(path).map_err(SecretFileError::Io)?;
            std::io::Write::write_all(&mut file, &bytes)
                .and_then(|()| file.sync_all())
                .map_err(SecretFileError::Io)?;
            Ok((bytes, true))
        }
        Err(e) => Err(SecretFileError::Io(e)),
    }
}

/// Makes an existing file owner-only (a missing one is fine): for files another library creates
/// (SQLite's database, WAL and shared-memory files) or an older version left readable.
pub fn restrict_file(path: &Path) -> std::io::Result<()> {
    match set_mode(path, PRIVATE_FILE_MODE) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
