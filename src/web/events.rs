//! Awaiting DOM events.

use std::cell::RefCell;
use std::rc::Rc;

use gloo::events::EventListener;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Event, EventTarget};

/// Resolves with the next `name` event on `target`. Dropping the future detaches the listener.
pub async fn next_event(target: &EventTarget, name: &'static str) -> Result<Event, JsValue> {
    let slot: Rc<RefCell<Option<EventListener>>> = Rc::default();
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let listener = EventListener::once(target, name, move |event| {
            // Calling a Promise's resolve function cannot fail in a way we could act on.
            let _ = resolve.call1(&JsValue::NULL, event);
        });
        *slot.borrow_mut() = Some(listener);
    });
    let event = JsFuture::from(promise).await?;
    drop(slot);
    event.dyn_into::<Event>()
}
