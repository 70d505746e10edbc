//! [`RpalReadHalf`] and [`RpalWriteHalf`]: an [`super::RpalStream`] split for two tasks.

/// The reading half of an [`super::RpalStream`] (`AsyncRead` + `AsyncBufRead`).
#[derive(Debug)]
pub struct RpalReadHalf {
    _p: (),
}

/// The writing half of an [`super::RpalStream`] (`AsyncWrite`).
#[derive(Debug)]
pub struct RpalWriteHalf {
    _p: (),
}
