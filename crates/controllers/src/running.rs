//! A controller running on a background task, stopped on request: the handle every controller's
//! `start` returns, so tests and the binary decide when it ends.

use std::future::Future;

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A controller running in the background until [`Running::shutdown`] (or until dropped, which
/// aborts it).
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Spawns `run`, handing it a future that resolves when [`Running::shutdown`] is called.
    pub(crate) fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        Self { stop: Some(stop), task: tokio::spawn(run(stopped)) }
    }

    /// Asks the controller to stop, lets work in flight finish, and waits for it to end.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.context("the controller task panicked")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

/// Resolves when `stopped` fires or its sender is dropped.
pub(crate) async fn stopped(stopped: oneshot::Receiver<()>) {
    let _ = stopped.await;
}
