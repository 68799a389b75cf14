//! Effect handles clean up when dropped: frame loops stop calling back, tasks stop running.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::Cell;
use std::rc::Rc;

use faceid_h5::web::frame_loop::FrameLoop;
use faceid_h5::web::task::Task;
use gloo::timers::future::TimeoutFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_dropped_animation_loop_stops_calling_back() {
    let frames = Rc::new(Cell::new(0u32));
    let frame_loop = {
        let frames = frames.clone();
        FrameLoop::animation_frames(move |_| frames.set(frames.get() + 1))
    };
    assert!(
        common::wait_until(|| frames.get() >= 3, 20, 200).await,
        "rAF fallback runs"
    );
    drop(frame_loop);
    let at_drop = frames.get();
    TimeoutFuture::new(200).await;
    assert_eq!(frames.get(), at_drop);
}

#[wasm_bindgen_test]
async fn a_loop_can_end_itself_from_its_own_callback() {
    let slot: Rc<std::cell::RefCell<Option<FrameLoop>>> = Rc::default();
    let frames = Rc::new(Cell::new(0u32));
    let frame_loop = {
        let (slot, frames) = (slot.clone(), frames.clone());
        FrameLoop::animation_frames(move |_| {
            frames.set(frames.get() + 1);
            // Dropping the loop while its callback runs must neither panic nor call again.
            slot.borrow_mut().take();
        })
    };
    *slot.borrow_mut() = Some(frame_loop);
    assert!(common::wait_until(|| frames.get() >= 1, 20, 200).await);
    TimeoutFuture::new(200).await;
    assert_eq!(frames.get(), 1);
}

#[wasm_bindgen_test]
async fn a_dropped_task_does_not_finish() {
    let finished = Rc::new(Cell::new(false));
    let task = {
        let finished = finished.clone();
        Task::spawn(async move {
            TimeoutFuture::new(100).await;
            finished.set(true);
        })
    };
    drop(task);
    TimeoutFuture::new(300).await;
    assert!(!finished.get());
}
