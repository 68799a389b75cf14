//! Spawned async work that is cancelled when its handle is dropped.

use std::future::Future;

use futures_util::future::{AbortHandle, Abortable};

/// A running task; dropping it aborts the task (and drops everything the task owns).
#[derive(Debug)]
pub struct Task {
    abort: AbortHandle,
}

impl Task {
    pub fn spawn(future: impl Future<Output = ()> + 'static) -> Task {
        let (abort, registration) = AbortHandle::new_pair();
        wasm_bindgen_futures::spawn_local(async move {
            // Aborted is the normal way for a task to end early; nothing to report.
            let _ = Abortable::new(future, registration).await;
        });
        Task { abort }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.abort.abort();
    }
}
