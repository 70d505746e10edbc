//! rpal_rt::fs free functions and directory listing, under both drivers (CI sets RPAL_DRIVER)
//! and both flavours, including many concurrent operations.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use rpal_rt::fs;
use support::each_flavor;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("rpal-fsops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn create_write_copy_rename_remove() {
    let dir = TempDir::new("basic");
    for (name, rt) in each_flavor() {
        let root = dir.0.join(name);
        rt.block_on(async {
            fs::create_dir_all(root.join("a/b/c")).await.unwrap();
            fs::create_dir_all(root.join("a/b/c")).await.unwrap(); // idempotent
            let err = fs::create_dir(root.join("a")).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
            let f = root.join("a/b/c/f.txt");
            fs::write(&f, "héllo").await.unwrap();
            assert_eq!(fs::read_to_string(&f).await.unwrap(), "héllo", "{name}");
            assert_eq!(fs::copy(&f, root.join("g.txt")).await.unwrap(), 6);
            fs::rename(root.join("g.txt"), root.join("h.txt"))
                .await
                .unwrap();
            assert!(!fs::try_exists(root.join("g.txt")).await.unwrap());
            assert_eq!(
                fs::read(root.join("h.txt")).await.unwrap(),
                "héllo".as_bytes()
            );
            let md = fs::metadata(root.join("h.txt")).await.unwrap();
            assert!(md.is_file() && md.len() == 6);
            fs::symlink("h.txt", root.join("l")).await.unwrap();
            assert_eq!(
                fs::read_link(root.join("l")).await.unwrap(),
                PathBuf::from("h.txt")
            );
            assert!(fs::symlink_metadata(root.join("l"))
                .await
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(
                fs::canonicalize(root.join("l")).await.unwrap(),
                std::fs::canonicalize(root.join("h.txt")).unwrap()
            );
            fs::write(root.join("bad"), [0xffu8, 0xfe]).await.unwrap();
            let err = fs::read_to_string(root.join("bad")).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
            fs::remove_file(root.join("h.txt")).await.unwrap();
            let err = fs::remove_file(root.join("h.txt")).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
            fs::remove_dir_all(&root).await.unwrap();
            assert!(!fs::try_exists(&root).await.unwrap(), "{name}");
        });
    }
}

#[test]
fn read_dir_lists_every_entry_across_batches() {
    let dir = TempDir::new("list");
    for (name, rt) in each_flavor() {
        let root = dir.0.join(name);
        rt.block_on(async {
            fs::create_dir_all(&root).await.unwrap();
            // More than one blocking-pool batch, written concurrently.
            let mut tasks = Vec::new();
            for i in 0..100 {
                let p = root.join(format!("f{i:03}"));
                tasks.push(rpal_rt::spawn(async move { fs::write(p, [i as u8]).await }));
            }
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            fs::create_dir(root.join("sub")).await.unwrap();
            let mut rd = fs::read_dir(&root).await.unwrap();
            let mut names = BTreeSet::new();
            let mut dirs = 0;
            while let Some(e) = rd.next_entry().await.unwrap() {
                assert_eq!(e.path(), root.join(e.file_name()));
                if e.file_type().await.unwrap().is_dir() {
                    dirs += 1;
                } else {
                    assert_eq!(e.metadata().await.unwrap().len(), 1);
                }
                names.insert(e.file_name().into_string().unwrap());
            }
            assert!(rd.next_entry().await.unwrap().is_none(), "stays at end");
            assert_eq!(names.len(), 101, "{name}");
            assert_eq!(dirs, 1);
            assert!(names.contains("f000") && names.contains("f099"));
            let err = fs::read_dir(root.join("nope")).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        });
    }
}
