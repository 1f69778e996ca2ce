//! Reports how many bytes of a response went out once its body is finished, or dropped
//! half-way (a client that went away): the access log line is written then, with the real
//! count. The count includes bytes the connection layer sent itself (`writev`,
//! `sendfile`); see [`Body::on_finish`].

use super::body::Body;

/// A body with its completion hook attached.
pub struct OnFinish(Body);

impl OnFinish {
    /// `inner`, calling `done` with the number of bytes sent when it ends.
    pub fn new(inner: Body, done: impl FnOnce(u64) + Send + 'static) -> Self {
        OnFinish(inner.on_finish(done))
    }

    pub fn boxed(self) -> Body {
        self.0
    }
}
