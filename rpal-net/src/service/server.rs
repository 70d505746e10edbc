//! The process placement of a service: answer framed calls arriving over [`RpalListener`]
//! connections by calling the same gate [`Service`] the in-process placement calls directly.

use std::io;

use rpal_rt::gate::Service;

use super::wire;
use crate::rpal::{RpalListener, RpalStream};

/// Serves `service` to every client of `listener`, one local task per connection, until
/// accepting fails.
///
/// The handler runs in a gate domain of this process, so the server's own network code and
/// the handler stay isolated from each other exactly as in the in-process placement. Must run
/// on the thread that owns the service's domain (`Service` is `!Send`): inside a current-thread
/// runtime, or a task spawned with `rpal_rt::spawn_local`.
///
/// # Errors
/// The error of `accept` that ended the loop. A failing connection only ends its own task.
pub async fn serve(listener: RpalListener, service: Service) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        rpal_rt::spawn_local(async move {
            // A broken or misbehaving client ends only its own connection.
            let _ = serve_connection(stream, &service).await;
        });
    }
}

/// Answers the calls of one connection in order until the client closes it.
///
/// A handler failure (panic, exhausted stacks, oversized request) is sent back to the client
/// as an error response and the connection stays usable.
///
/// # Errors
/// I/O errors of the stream and malformed frames (`InvalidData`).
pub async fn serve_connection(mut stream: RpalStream, service: &Service) -> io::Result<()> {
    let mut request = Vec::new();
    let mut frame = Vec::new();
    while wire::read_body(&mut stream, &mut request).await? {
        // call_async: a handler that waits suspends this connection's task only.
        match service.call_async(&request).await {
            Ok(response) => wire::encode(&mut frame, Some(wire::STATUS_OK), &response)?,
            Err(e) => wire::encode(&mut frame, Some(wire::STATUS_ERR), e.to_string().as_bytes())?,
        }
        wire::write_frame(&mut stream, &frame).await?;
    }
    Ok(())
}
