//! The steady state allocates nothing: once the buffers have grown, a frame that tracks (no full
//! detection) performs no heap allocation. Counted with a global allocator wrapper, so this file
//! holds a single test (nothing else allocates in the process while it measures).
#![cfg(not(target_arch = "wasm32"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use faceid_core::analysis::FrameAnalyser;
use faceid_core::face::FaceDetector;
use faceid_core::frame::{AnalysisImage, RgbaFrame};
use faceid_core::FaceBox;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Always reports the same face.
struct Fixed(FaceBox);

impl FaceDetector for Fixed {
    fn detect(&mut self, _: &AnalysisImage) -> Vec<FaceBox> {
        vec![self.0]
    }
}

#[test]
fn tracking_frames_do_not_allocate() {
    let (w, h) = (640u32, 480u32);
    // A textured square where the detector says the face is, so the template match succeeds.
    let face = FaceBox {
        x: 0.35,
        y: 0.3,
        w: 0.3,
        h: 0.4,
        score: 10.0,
    };
    let mut rgba = vec![100u8; (w * h * 4) as usize];
    for y in 0..h {
        for x in 0..w {
            let (nx, ny) = (x as f32 / w as f32, y as f32 / h as f32);
            if nx >= face.x && nx < face.x + face.w && ny >= face.y && ny < face.y + face.h {
                let v = (128.0 + 60.0 * ((x as f32 * 0.21).sin() * (y as f32 * 0.17).cos())) as u8;
                let i = ((y * w + x) * 4) as usize;
                rgba[i..i + 3].copy_from_slice(&[v, v / 2 + 40, v / 3 + 30]);
            }
        }
    }
    let frame = RgbaFrame::packed(&rgba, w, h).unwrap();
    let mut a = FrameAnalyser::with_detector(Box::new(Fixed(face)));
    let first = a.analyse(&frame, 0.0).unwrap();
    assert!(first.ran_detection && first.face.is_some());

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut tracked = 0;
    for k in 1..6 {
        let r = a.analyse(&frame, k as f64 * 33.0).unwrap();
        assert!(r.face.is_some());
        tracked += (!r.ran_detection) as usize;
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(tracked, 5, "every repeated frame should track");
    assert_eq!(
        after - before,
        0,
        "tracking frames allocated {} times",
        after - before
    );
}
