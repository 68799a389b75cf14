//! The flash overlay paints each colour of a challenge in order and logs when it reached the screen.
#![cfg(target_arch = "wasm32")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use faceid_core::Rgb8;
use faceid_h5::web::flash_display::{Cutout, FlashDisplay};
use faceid_h5::web::now_ms;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

wasm_bindgen_test_configure!(run_in_browser);

/// Per colour: logged colour, logged start, pixel in the corner, pixel in the cut-out.
type PaintLog = Rc<RefCell<Vec<(Rgb8, f64, [u8; 4], [u8; 4])>>>;

#[wasm_bindgen_test]
async fn shows_each_colour_in_order_and_logs_its_display_time() {
    let challenge = common::challenge(&[common::BLUE, common::GREEN, common::CYAN, common::YELLOW]);
    challenge.validate().expect("a safe challenge");
    let canvas: HtmlCanvasElement = common::fresh("canvas").dyn_into().unwrap();
    let reader: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .unwrap()
        .unwrap()
        .dyn_into()
        .unwrap();
    // (colour logged, pixel in the corner, pixel in the cut-out's centre)
    let seen: PaintLog = Rc::default();
    let recorder_start = now_ms();
    let cutout = Cutout {
        cx: 100.0,
        cy: 100.0,
        rx: 40.0,
        ry: 60.0,
    };
    let mut display = {
        let seen = seen.clone();
        FlashDisplay::start(
            canvas.clone(),
            &challenge,
            recorder_start,
            move || Some(cutout),
            move |shown| {
                let px = |x: f64, y: f64| {
                    let d = reader.get_image_data(x, y, 1.0, 1.0).unwrap().data();
                    [d[0], d[1], d[2], d[3]]
                };
                seen.borrow_mut().push((
                    shown.colour,
                    shown.start_ms,
                    px(2.0, 2.0),
                    px(100.0, 100.0),
                ));
            },
        )
        .unwrap()
    };
    let result = display.finished().await.unwrap();

    let expected: Vec<Rgb8> = challenge.schedule(0.0).iter().map(|d| d.colour).collect();
    let seen = seen.borrow();
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        expected,
        "every colour, in order"
    );
    for (colour, _, corner, centre) in seen.iter() {
        assert_eq!(
            &corner[..3],
            &[colour.r, colour.g, colour.b],
            "the canvas shows {colour:?}"
        );
        assert_eq!(corner[3], 255);
        assert_eq!(centre[3], 0, "the oval is cut out");
    }
    // The log: one entry per colour, on the recorder's clock, in display order.
    assert_eq!(result.shown.len(), expected.len());
    assert_eq!(
        result.shown.iter().map(|d| d.start_ms).collect::<Vec<_>>(),
        seen.iter().map(|s| s.1).collect::<Vec<_>>()
    );
    assert!(result
        .shown
        .windows(2)
        .all(|w| w[1].start_ms > w[0].start_ms));
    assert_eq!(result.hold_start_ms, Some(result.shown[0].start_ms));
    // (The rAF timestamp is the frame's start, which may precede the `performance.now()` read just
    // before the display started, so the first start may be slightly negative: no bound on it here.)
    // Each colour starts no earlier than its schedule allows (boundaries are counted from the hold).
    let ideal = challenge.schedule(result.shown[0].start_ms);
    for (shown, due) in result.shown.iter().zip(ideal.iter()) {
        assert!(shown.start_ms >= due.start_ms, "{shown:?} before {due:?}");
    }
}
