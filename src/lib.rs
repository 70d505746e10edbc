//! Facade over [`rpal_rt`] and [`rpal_net`]. The workspace's top-level examples, benches and
//! cross-crate tests live in this package.
pub use rpal_net as net;
pub use rpal_rt as rt;
