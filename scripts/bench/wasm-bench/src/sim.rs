//! Frames of a simulated light-challenge session (faceid-core's simulator), so both sides of the
//! per-frame benchmark can be timed on the same moving, flashing camera frames.
use faceid_core::challenge::ColourChallenge;
use faceid_core::sim::{Attack, Photo, SimConditions, SimSession, ASTRONAUT_FACE};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wasm_bindgen::prelude::*;

/// Renders up to `count` frames of a genuine session of the astronaut photo (`photo_png`) at
/// `width` × `height` under the simulator's default conditions, as packed RGBA frames one after the
/// other. The challenge and the session are drawn from `seed`, so the frames are the same each run.
#[wasm_bindgen]
pub fn sim_frames(photo_png: &[u8], width: u32, height: u32, count: u32, seed: u64) -> Result<Vec<u8>, JsError> {
    let photo = Photo::from_png(photo_png)?.with_face(ASTRONAUT_FACE);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let challenge = ColourChallenge::generate(&mut rng);
    let conditions = SimConditions::steady().with_size(width, height);
    let mut session = SimSession::new(&photo, &challenge, conditions, Attack::None, seed);
    let frame_bytes = width as usize * height as usize * 4;
    let mut frames = Vec::with_capacity(frame_bytes * count as usize);
    let mut frame = Vec::new();
    for _ in 0..count {
        if session.render_next(&mut frame).is_none() {
            break;
        }
        frames.extend_from_slice(&frame);
    }
    Ok(frames)
}
