//! Media in a local directory: one machine, or a file system every instance mounts.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{check_key, MediaError, MediaStore};

/// Media in a local directory.
#[derive(Debug, Clone)]
pub struct DirectoryMediaStore {
    root: PathBuf,
}

impl DirectoryMediaStore {
    pub fn open(root: &Path) -> Result<DirectoryMediaStore, MediaError> {
        crate::private_fs::create_dir(root)?;
        Ok(DirectoryMediaStore {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf, MediaError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

impl MediaStore for DirectoryMediaStore {
    fn put_file(&self, key: &str, src: &Path) -> Result<(), MediaError> {
        let dst = self.path(key)?;
        if std::fs::rename(src, &dst).is_err() {
            // Another file system: copy, then remove the source.
            std::fs::copy(src, &dst)?;
            std::fs::remove_file(src)?;
        }
        crate::private_fs::restrict_file(&dst)?;
        Ok(())
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), MediaError> {
        let dst = self.path(key)?;
        let tmp = self.root.join(format!(".{key}.part"));
        let mut file = crate::private_fs::write_options().open(&tmp)?;
        std::io::Write::write_all(&mut file, bytes)?;
        drop(file);
        std::fs::rename(&tmp, &dst)?;
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, MediaError> {
        match std::fs::read(self.path(key)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn delete(&self, key: &str) -> Result<(), MediaError> {
        match std::fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_keys() {
        let dir = tempfile::tempdir().unwrap();
        let m = DirectoryMediaStore::open(&dir.path().join("media")).unwrap();
        m.put_bytes("a.jpg", b"xyz").unwrap();
        assert_eq!(m.get("a.jpg").unwrap().as_deref(), Some(&b"xyz"[..]));
        let src = dir.path().join("up");
        std::fs::write(&src, b"video").unwrap();
        m.put_file("b.webm", &src).unwrap();
        assert!(!src.exists());
        assert_eq!(m.get("b.webm").unwrap().as_deref(), Some(&b"video"[..]));
        m.delete("a.jpg").unwrap();
        m.delete("a.jpg").unwrap();
        assert_eq!(m.get("a.jpg").unwrap(), None);
        for bad in ["../x", "", ".hidden", "a/b", "a\\b"] {
            assert!(matches!(m.get(bad), Err(MediaError::BadKey(_))), "{bad}");
        }
    }
}
