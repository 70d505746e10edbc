//! Framing of service calls over a stream: pure encode/decode helpers plus the two async
//! read/write steps. One request frame per call, one response frame per request, in order.
//!
//! ```text
//! request:  | len: u32 LE | len bytes |
//! response: | status: u8 | len: u32 LE | len bytes |   status 0 = ok (bytes = response),
//!                                                      status 1 = error (bytes = UTF-8 message)
//! ```
//!
//! Every length read from the peer is checked against [`MAX_FRAME`] before anything is
//! allocated.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request or response body accepted from a peer.
pub(super) const MAX_FRAME: usize = 16 << 20;
/// Response status: the bytes are the handler's answer.
pub(super) const STATUS_OK: u8 = 0;
/// Response status: the bytes are an error message (the handler failed).
pub(super) const STATUS_ERR: u8 = 1;

fn too_large(len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("service frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"),
    )
}

/// Builds `header + body` in `frame` (cleared first) so one write sends it.
pub(super) fn encode(frame: &mut Vec<u8>, status: Option<u8>, body: &[u8]) -> io::Result<()> {
    if body.len() > MAX_FRAME {
        return Err(too_large(body.len()));
    }
    frame.clear();
    frame.extend_from_slice(status.as_slice());
    // Cannot truncate: MAX_FRAME < u32::MAX.
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(body);
    Ok(())
}

/// Reads one frame body into `out` (cleared first) after a 4-byte length.
///
/// Returns `Ok(false)` on a clean end of stream before the first header byte.
pub(super) async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match stream.read(&mut len[got..]).await? {
            0 if got == 0 => return Ok(false),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => got += n,
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(too_large(len));
    }
    out.clear();
    out.resize(len, 0);
    stream.read_exact(out).await?;
    Ok(true)
}

/// Reads one response: status byte then body. `Err` for a malformed status or an error status
/// (its message becomes the error).
pub(super) async fn read_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut status = [0u8; 1];
    stream.read_exact(&mut status).await?;
    if !read_body(stream, out).await? {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    match status[0] {
        STATUS_OK => Ok(()),
        STATUS_ERR => Err(io::Error::other(format!(
            "remote service: {}",
            String::from_utf8_lossy(out)
        ))),
        s => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("service response with unknown status {s}"),
        )),
    }
}

/// Writes a prepared frame.
pub(super) async fn write_frame<S: AsyncWrite + Unpin>(
    stream: &mut S,
    frame: &[u8],
) -> io::Result<()> {
    stream.write_all(frame).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_lengths_are_refused() {
        futures::executor::block_on(async {
            let mut f = Vec::new();
            encode(&mut f, Some(STATUS_OK), b"abc").unwrap();
            assert_eq!(f, [0, 3, 0, 0, 0, b'a', b'b', b'c']);
            let mut out = Vec::new();
            read_response(&mut &f[..], &mut out).await.unwrap();
            assert_eq!(out, b"abc");

            encode(&mut f, Some(STATUS_ERR), b"boom").unwrap();
            let e = read_response(&mut &f[..], &mut out).await.unwrap_err();
            assert!(e.to_string().contains("boom"), "{e}");

            let mut huge = vec![0u8];
            huge.extend_from_slice(&u32::MAX.to_le_bytes());
            let e = read_response(&mut &huge[..], &mut out).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);

            encode(&mut f, None, b"req").unwrap();
            assert!(read_body(&mut &f[..], &mut out).await.unwrap());
            assert_eq!(out, b"req");
            assert!(
                !read_body(&mut &b""[..], &mut out).await.unwrap(),
                "clean EOF"
            );
            let e = read_body(&mut &[1u8, 0][..], &mut out).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        });
    }
}
