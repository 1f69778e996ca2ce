//! File bodies with `sendfile(2)`: the kernel copies from the page cache to the socket,
//! with no read into user space and no buffer held by the connection. The socket is
//! non-blocking: on `EAGAIN` the task waits for writability (tokio's readiness, bounded by
//! the write timeout of [`Out`]), so a slow client costs nothing but its socket.

use super::out::Out;
use crate::http::body::FileRange;
use std::io;
use std::os::fd::AsRawFd;

/// The most bytes asked of one `sendfile` call (Linux caps a call near 2 GiB anyway);
/// smaller calls let other connections on the same thread take turns. With the
/// listeners' `TCP_NOTSENT_LOWAT` a call ends once the network stops taking bytes, so
/// this only bounds a call on a fast socket (10 MiB over 8 loopback connections: 256 KiB
/// gave 7% more requests per CPU-second than 1 MiB, 128 KiB no better).
const MAX_CALL: u64 = 256 << 10;

/// Sends `range` on `out`, adding each chunk sent to `sent`. Fails if the file turns
/// out shorter than the range (it was truncated after its length was announced).
pub async fn send(out: &mut Out<'_>, range: &FileRange, sent: &mut u64) -> io::Result<()> {
    let file = range.file.as_raw_fd();
    let mut offset = libc::off_t::try_from(range.offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
    let mut left = range.len;
    while left > 0 {
        let want = left.min(MAX_CALL) as usize;
        let n = out
            .write_with(|stream| {
                // SAFETY: both descriptors are open for the duration of the call (the
                // stream and the file are borrowed), and `offset` is a valid off_t the
                // kernel updates.
                let n = unsafe { libc::sendfile(stream.as_raw_fd(), file, &mut offset, want) };
                usize::try_from(n).map_err(|_| io::Error::last_os_error())
            })
            .await? as u64;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shorter than its announced length",
            ));
        }
        left -= n.min(left);
        *sent += n;
        // Give the other connections of this thread their turn after every call, as an
        // event loop serving them round robin would: the client then gets its downloads
        // interleaved, not one connection's whole file in a burst, which costs it less
        // per byte. 10 MiB over 8 loopback connections, wrk's core saturated: 475 -> 525
        // req/s and wrk's CPU per response 2.1 -> 1.9 ms, with the server's CPU per
        // response unchanged (tokio's budget, which yields after some 128 calls, before).
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// Writes `bytes` with `MSG_MORE` (the head before a `sendfile`): the kernel holds a
/// partial segment back until the body follows, so head and body share packets. (Measured
/// on 100 KiB files: the server's CPU per request is the same as with a plain write,
/// within noise; the client gets one segment fewer.)
pub async fn write_more(out: &mut Out<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = out
            .write_some(|stream| {
                socket2::SockRef::from(stream)
                    .send_with_flags(bytes, libc::MSG_MORE | libc::MSG_NOSIGNAL)
            })
            .await?;
        bytes = &bytes[n..];
    }
    Ok(())
}
