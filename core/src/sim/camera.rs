//! The phone's camera: frame timing, automatic exposure and white balance, its tone curve and noise.
//!
//! Real front cameras deliver 15–30 fps with uneven intervals and dropped frames, stamp frames when
//! they arrive rather than when they were exposed, read the sensor row by row (rolling shutter),
//! adjust exposure and white balance on their own — smoothly on some phones, in visible steps on
//! others, not at all on a few — and encode with their own tone curve, which is not exactly sRGB.

use rand_chacha::ChaCha8Rng;

use super::{normal, uniform, unit, SimConditions};

/// Entries of the linear → code table (fine enough that quantisation is below 0.1 level).
pub(super) const TONE_TABLE: usize = 8192;
/// Linear values above this clip (the table's range).
pub(super) const TONE_MAX: f32 = 1.0;

/// How the camera's automatic exposure behaves in this session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExposureMode {
    /// Exposure fixed once the preview settled (some phones lock it while recording).
    Locked,
    /// Follows the scene's brightness continuously with a lag.
    Smooth,
    /// Follows in discrete steps of this many natural-log units, with hysteresis.
    Stepped(f64),
}

/// The camera of one session.
#[derive(Clone, Debug)]
pub(super) struct Camera {
    pub period_ms: f64,
    /// Standard deviation of the frame interval, as a share of the period (variable frame rate).
    pub interval_jitter: f64,
    pub timestamp_jitter_ms: f64,
    pub drop_rate: f64,
    pub delay_ms: f64,
    pub readout_ms: f64,
    pub exposure_ms: f64,
    pub exposure_mode: ExposureMode,
    pub exposure_lag_ms: f64,
    pub exposure_strength: f64,
    pub exposure_drift: f64,
    pub white_balance_locked: bool,
    pub white_balance_strength: f64,
    pub white_balance_lag_ms: f64,
    pub white_balance_update_ms: f64,
    pub white_balance_drift: f64,
    /// Tone curve (linear scene value → code value 0..255) and noise σ in code levels, per entry.
    pub tone: Box<[f32; TONE_TABLE]>,
    pub sigma: Box<[f32; TONE_TABLE]>,
    /// Share of the noise that is spatially coarse (demosaicing and denoising spread it).
    pub coarse_noise: f32,
    /// Slow drifts: phases and frequencies.
    pub drift_phase: [[f64; 2]; 4],
}

impl Camera {
    pub fn draw(conditions: &SimConditions, rng: &mut ChaCha8Rng) -> Camera {
        let fps = uniform(rng, conditions.fps).clamp(1.0, 120.0);
        let period_ms = 1000.0 / fps;
        let exposure_mode = {
            let roll = unit(rng);
            if roll < conditions.exposure_locked_probability {
                ExposureMode::Locked
            } else if roll
                < conditions.exposure_locked_probability
                    + (1.0 - conditions.exposure_locked_probability) / 2.0
            {
                ExposureMode::Smooth
            } else {
                // 1/8 to 1/3 EV per step.
                ExposureMode::Stepped(uniform(
                    rng,
                    [std::f64::consts::LN_2 / 8.0, std::f64::consts::LN_2 / 3.0],
                ))
            }
        };
        let gamma = uniform(rng, conditions.tone_gamma) as f32;
        let contrast = uniform(rng, conditions.tone_contrast) as f32;
        let lift = uniform(rng, [0.0, 0.03]) as f32;
        let tone: Box<[f32; TONE_TABLE]> = Box::new(std::array::from_fn(|i| {
            let v = i as f32 / (TONE_TABLE - 1) as f32 * TONE_MAX;
            let s = if v <= 0.003_130_8 {
                v * 12.92
            } else {
                1.055 * v.powf(1.0 / 2.4) - 0.055
            };
            let g = s.max(0.0).powf(gamma);
            let curved = g + contrast * (g * g * (3.0 - 2.0 * g) - g);
            255.0 * (lift + (1.0 - lift) * curved)
        }));
        // Noise: σ at mid-grey (linear 0.18) in code levels; shot noise grows with the signal.
        let sigma_mid = uniform(rng, conditions.noise_levels) as f32;
        let shot = uniform(rng, [0.7, 1.0]) as f32;
        let mid = (0.18 / TONE_MAX * (TONE_TABLE - 1) as f32) as usize;
        let slope = |i: usize| {
            let (a, b) = (i.saturating_sub(8), (i + 8).min(TONE_TABLE - 1));
            (tone[b] - tone[a]) / ((b - a) as f32 / (TONE_TABLE - 1) as f32 * TONE_MAX)
        };
        let sigma_mid_linear = sigma_mid / slope(mid).max(1e-3);
        let sigma: Box<[f32; TONE_TABLE]> = Box::new(std::array::from_fn(|i| {
            let v = (i as f32 / (TONE_TABLE - 1) as f32 * TONE_MAX).max(1e-4);
            let linear = sigma_mid_linear * (shot * v / 0.18 + (1.0 - shot)).sqrt();
            (linear * slope(i)).min(40.0)
        }));
        Camera {
            period_ms,
            interval_jitter: uniform(rng, conditions.frame_interval_jitter),
            timestamp_jitter_ms: uniform(rng, conditions.timestamp_jitter_ms),
            drop_rate: uniform(rng, conditions.drop_rate),
            delay_ms: uniform(rng, conditions.delay_ms),
            readout_ms: uniform(rng, conditions.rolling_shutter_ms),
            // Indoors the exposure time is long: most of the frame period, at most 1/30 s.
            exposure_ms: uniform(rng, [0.5, 0.95]) * period_ms.min(33.3),
            exposure_mode,
            exposure_lag_ms: uniform(rng, conditions.exposure_lag_ms).max(1.0),
            exposure_strength: uniform(rng, conditions.exposure_strength).clamp(0.0, 1.0),
            exposure_drift: uniform(rng, [0.0, conditions.exposure_drift]),
            white_balance_locked: unit(rng) < conditions.white_balance_locked_probability,
            white_balance_strength: uniform(rng, conditions.white_balance_adaptation)
                .clamp(0.0, 1.0),
            white_balance_lag_ms: uniform(rng, [500.0, 3000.0]),
            white_balance_update_ms: uniform(rng, [100.0, 500.0]),
            white_balance_drift: uniform(rng, [0.0, conditions.white_balance_drift]),
            tone,
            sigma,
            coarse_noise: uniform(rng, [0.2, 0.5]) as f32,
            drift_phase: std::array::from_fn(|_| {
                [unit(rng) * std::f64::consts::TAU, uniform(rng, [0.05, 0.3])]
            }),
        }
    }

    /// A slow drift in natural-log units at `t` (channel 0 = exposure, 1..=3 = white balance).
    pub fn drift(&self, which: usize, t_ms: f64) -> f64 {
        let [phase, freq] = self.drift_phase[which.min(3)];
        let amp = if which == 0 {
            self.exposure_drift
        } else {
            self.white_balance_drift
        };
        amp * (std::f64::consts::TAU * freq * t_ms / 1000.0 + phase).sin()
    }
}

/// Automatic exposure's state: the log exposure it applies and the one it is moving toward.
#[derive(Clone, Debug)]
pub(super) struct ExposureState {
    pub applied: f64,
    internal: f64,
    base: f64,
    metered_hold: f64,
}

impl ExposureState {
    /// Settled on the hold colour: `metered_hold` is ln of the metered scene brightness then, and
    /// `base` the log exposure that puts it at the target.
    pub fn settled(base: f64, metered_hold: f64) -> ExposureState {
        ExposureState {
            applied: base,
            internal: base,
            base,
            metered_hold,
        }
    }

    pub fn update(&mut self, camera: &Camera, dt_ms: f64, metered: f64) {
        if camera.exposure_mode == ExposureMode::Locked {
            return;
        }
        let target = self.base + camera.exposure_strength * (self.metered_hold - metered);
        let a = 1.0 - (-dt_ms / camera.exposure_lag_ms).exp();
        self.internal += a * (target - self.internal);
        match camera.exposure_mode {
            ExposureMode::Stepped(step) => {
                // Hysteresis: move a whole step once the wanted exposure is 0.6 steps away.
                if (self.internal - self.applied).abs() > 0.6 * step {
                    self.applied += step * ((self.internal - self.applied) / step).round();
                }
            }
            _ => self.applied = self.internal,
        }
    }
}

/// Automatic white balance: log gains per channel, updated in steps toward a partial grey-world
/// correction of the colour cast the screen puts on the frame.
#[derive(Clone, Debug)]
pub(super) struct WhiteBalanceState {
    pub applied: [f64; 3],
    internal: [f64; 3],
    since_update_ms: f64,
}

impl WhiteBalanceState {
    pub fn neutral() -> WhiteBalanceState {
        WhiteBalanceState {
            applied: [0.0; 3],
            internal: [0.0; 3],
            since_update_ms: 0.0,
        }
    }

    /// `cast`: ln of the frame's mean colour per channel relative to its mean under the hold colour.
    pub fn update(&mut self, camera: &Camera, dt_ms: f64, cast: [f64; 3]) {
        if camera.white_balance_locked {
            return;
        }
        let m = (cast[0] + cast[1] + cast[2]) / 3.0;
        let a = 1.0 - (-dt_ms / camera.white_balance_lag_ms).exp();
        for (internal, c) in self.internal.iter_mut().zip(cast) {
            let target = -camera.white_balance_strength * (c - m);
            *internal += a * (target - *internal);
        }
        self.since_update_ms += dt_ms;
        if self.since_update_ms >= camera.white_balance_update_ms {
            self.since_update_ms = 0.0;
            self.applied = self.internal;
        }
    }
}

/// Frame times: a nominal grid with variable intervals, timestamp jitter and dropped frames (a
/// quarter of the drops take three frames at once).
#[derive(Clone, Debug)]
pub(super) struct FrameClock {
    next_ms: f64,
    end_ms: f64,
    last_ms: f64,
    pending_drop: u32,
}

impl FrameClock {
    pub fn new(first_ms: f64, end_ms: f64) -> FrameClock {
        FrameClock {
            next_ms: first_ms,
            end_ms,
            last_ms: f64::NAN,
            pending_drop: 0,
        }
    }

    /// The next delivered frame's (capture time, stamped time), or None at the end.
    pub fn next(&mut self, camera: &Camera, rng: &mut ChaCha8Rng) -> Option<(f64, f64)> {
        loop {
            let capture = self.next_ms;
            if capture > self.end_ms {
                return None;
            }
            let step =
                camera.period_ms * (1.0 + camera.interval_jitter * normal(rng)).clamp(0.5, 2.0);
            self.next_ms += step;
            let jitter =
                (normal(rng) * camera.timestamp_jitter_ms.clamp(0.0, 50.0)).clamp(-10.0, 10.0);
            let drop_roll = unit(rng);
            if self.pending_drop > 0 {
                self.pending_drop -= 1;
                continue;
            }
            if drop_roll < camera.drop_rate {
                if unit(rng) < 0.25 {
                    self.pending_drop = 2;
                }
                continue;
            }
            let stamped = (capture + jitter).max(0.0);
            // Stamps never go backwards.
            let stamped = if self.last_ms.is_finite() {
                stamped.max(self.last_ms + 1.0)
            } else {
                stamped
            };
            self.last_ms = stamped;
            return Some((capture, stamped));
        }
    }
}
