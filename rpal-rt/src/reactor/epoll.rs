//! The epoll driver.
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use super::{Doorbell, ScheduledIo};
use crate::io::Interest;

#[derive(Debug)]
pub(crate) struct EpollDriver {}
#[derive(Debug)]
pub(crate) struct EpollShared {}

impl EpollDriver {
    pub(crate) fn new() -> io::Result<Self> {
        todo!()
    }
    pub(crate) fn shared(&self) -> Arc<EpollShared> {
        todo!()
    }
    pub(crate) fn park(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        todo!()
    }
}
impl EpollShared {
    pub(crate) fn doorbell(&self) -> &Doorbell {
        todo!()
    }
    pub(crate) fn register(&self, _fd: RawFd, _i: Interest) -> io::Result<Arc<ScheduledIo>> {
        todo!()
    }
    pub(crate) fn deregister(&self, _io: &Arc<ScheduledIo>, _fd: RawFd) -> io::Result<()> {
        todo!()
    }
}
