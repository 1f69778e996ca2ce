//! A body wrapper that reports how many bytes went out once the body is finished, or
//! dropped half-way (a client that went away): the access log line is written then, with
//! the real count.

use super::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct OnFinish<F: FnOnce(u64)> {
    inner: Body,
    sent: u64,
    done: Option<F>,
}

impl<F: FnOnce(u64) + Send + Unpin + 'static> OnFinish<F> {
    pub fn new(inner: Body, done: F) -> Self {
        OnFinish {
            inner,
            sent: 0,
            done: Some(done),
        }
    }

    pub fn boxed(self) -> Body {
        BodyExt::boxed_unsync(self)
    }
}

impl<F: FnOnce(u64) + Unpin> HttpBody for OnFinish<F> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some(done) = this.done.take() {
                    done(this.sent);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<F: FnOnce(u64)> Drop for OnFinish<F> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done(self.sent);
        }
    }
}
