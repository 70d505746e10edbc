//! rpal_rt::fs::File on the blocking pool, under both drivers (CI sets RPAL_DRIVER) and both
//! flavours: sequential read/write, interleaved seek/read/write keeping the logical cursor
//! right after read-ahead, large transfers beyond one buffer, positional I/O, set_len, sync,
//! metadata, and error reporting.

mod support;

use std::io::SeekFrom;
use std::path::PathBuf;

use futures::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use rpal_rt::fs::{self, File, OpenOptions};
use support::each_flavor;

/// A fresh directory for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("rpal-fs-{tag}-{}", std::process::id()));
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

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn write_then_read_back_large() {
    let dir = TempDir::new("large");
    for (name, rt) in each_flavor() {
        let path = dir.0.join(name);
        rt.block_on(async {
            // Larger than one 2 MiB buffer, written in odd-sized pieces.
            let data = pattern(5 * 1024 * 1024 + 123);
            let mut f = File::create(&path).await.unwrap();
            for chunk in data.chunks(700_001) {
                f.write_all(chunk).await.unwrap();
            }
            f.flush().await.unwrap();
            f.sync_all().await.unwrap();
            assert_eq!(f.metadata().await.unwrap().len(), data.len() as u64);
            drop(f);
            let mut back = Vec::new();
            File::open(&path)
                .await
                .unwrap()
                .read_to_end(&mut back)
                .await
                .unwrap();
            assert!(back == data, "{name}: contents differ");
            assert!(fs::read(&path).await.unwrap() == data, "{name}");
        });
    }
}

#[test]
fn seek_after_read_ahead_keeps_the_logical_cursor() {
    let dir = TempDir::new("seek");
    for (name, rt) in each_flavor() {
        let path = dir.0.join(name);
        rt.block_on(async {
            fs::write(&path, b"0123456789").await.unwrap();
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .await
                .unwrap();
            let mut two = [0u8; 2];
            // The first read pulls ahead up to the buffer; the logical cursor is 2.
            f.read_exact(&mut two).await.unwrap();
            assert_eq!(&two, b"01");
            assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 2, "{name}");
            f.read_exact(&mut two).await.unwrap();
            assert_eq!(&two, b"23");
            // A write after a read lands at the logical cursor (4), not after the read-ahead.
            f.write_all(b"ab").await.unwrap();
            f.flush().await.unwrap();
            f.read_exact(&mut two).await.unwrap();
            assert_eq!(&two, b"67", "{name}");
            assert_eq!(f.seek(SeekFrom::End(-1)).await.unwrap(), 9);
            f.read_exact(&mut two[..1]).await.unwrap();
            assert_eq!(two[0], b'9');
            assert_eq!(f.read(&mut two).await.unwrap(), 0, "{name}: EOF");
            f.seek(SeekFrom::Start(0)).await.unwrap();
            let mut all = String::new();
            f.read_to_string(&mut all).await.unwrap();
            assert_eq!(all, "0123ab6789", "{name}");
        });
    }
}

#[test]
fn positional_io_and_set_len() {
    let dir = TempDir::new("pos");
    for (name, rt) in each_flavor() {
        let path = dir.0.join(name);
        rt.block_on(async {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .await
                .unwrap();
            assert_eq!(f.write_at(b"world", 6).await.unwrap(), 5);
            assert_eq!(f.write_at(b"hello ", 0).await.unwrap(), 6);
            let mut buf = [0u8; 16];
            let n = f.read_at(&mut buf, 0).await.unwrap();
            assert_eq!(&buf[..n], b"hello world", "{name}");
            assert_eq!(f.read_at(&mut buf, 100).await.unwrap(), 0);
            f.set_len(5).await.unwrap();
            assert_eq!(f.metadata().await.unwrap().len(), 5);
            f.set_len(8).await.unwrap();
            assert_eq!(fs::read(&path).await.unwrap(), b"hello\0\0\0", "{name}");
            f.sync_data().await.unwrap();
            // create_new refuses an existing file.
            let err = File::create_new(&path).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        });
    }
}

#[test]
fn open_errors_and_write_on_read_only() {
    let dir = TempDir::new("err");
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let missing = dir.0.join("missing");
            let err = File::open(&missing).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{name}");
            let path = dir.0.join(format!("ro-{name}"));
            fs::write(&path, b"x").await.unwrap();
            let mut f = File::open(&path).await.unwrap();
            // The write is accepted into the buffer; its failure (EBADF) surfaces at flush
            // (or at the next write).
            let first = f.write(b"y").await;
            let err = match first {
                Err(e) => e,
                Ok(_) => f.flush().await.unwrap_err(),
            };
            assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{name}: {err}");
        });
    }
}

#[test]
fn into_std_and_try_clone_share_the_cursor() {
    let dir = TempDir::new("std");
    let rt = support::current_thread();
    rt.block_on(async {
        let path = dir.0.join("f");
        fs::write(&path, b"abcdef").await.unwrap();
        let mut f = File::open(&path).await.unwrap();
        f.seek(SeekFrom::Start(2)).await.unwrap();
        let mut g = f.try_clone().await.unwrap();
        let mut one = [0u8; 1];
        g.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"c");
        let mut std = g.into_std().await;
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut std, &mut rest).unwrap();
        // The std file continues at the logical cursor, shared with the dup'd `f`.
        assert_eq!(rest, "def");
        let mut tail = [0u8; 1];
        assert_eq!(
            f.read(&mut tail).await.unwrap(),
            0,
            "f shares the cursor, now at EOF"
        );
    });
}
