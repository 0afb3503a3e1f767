//! A server future run on a thread and Tokio runtime of its own, so a test's runtime
//! (paused clock included) never stalls it.

use std::future::Future;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A future running on its own thread until stopped; dropping it signals the stop.
#[derive(Debug)]
pub(crate) struct Background {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Runs `start` on a new thread's runtime. `start` gets the stop signal and returns the
    /// value to hand back once it is ready (addresses, say) and the future to run after that.
    pub(crate) async fn spawn<T, F, S>(name: &str, start: S) -> Result<(Background, T), String>
    where
        T: Send + 'static,
        F: Future<Output = ()> + 'static,
        S: FnOnce(
                oneshot::Receiver<()>,
            ) -> std::pin::Pin<Box<dyn Future<Output = Result<(T, F), String>>>>
            + Send
            + 'static,
    {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(start, stop_rx, ready_tx))
            .map_err(|e| e.to_string())?;
        let ready = ready_rx
            .await
            .map_err(|_| "the server thread exited before it was ready".to_owned())??;
        Ok((
            Background {
                stop: Some(stop),
                thread: Some(thread),
            },
            ready,
        ))
    }

    /// Signals the stop and waits for the thread to end.
    pub(crate) fn shutdown(mut self) {
        self.signal();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Background {
    /// Signals the stop without waiting (idle keep-alive connections may hold a graceful
    /// shutdown for a while; the thread finishes on its own).
    fn drop(&mut self) {
        self.signal();
    }
}

fn run<T, F, S>(start: S, stop: oneshot::Receiver<()>, ready: oneshot::Sender<Result<T, String>>)
where
    F: Future<Output = ()> + 'static,
    S: FnOnce(
        oneshot::Receiver<()>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(T, F), String>>>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    runtime.block_on(async move {
        match start(stop).await {
            Ok((value, serve)) => {
                let _ = ready.send(Ok(value));
                serve.await;
            }
            Err(e) => {
                let _ = ready.send(Err(e));
            }
        }
    });
    runtime.shutdown_background();
}
