//! Four f32 lanes: wasm simd128 when the wasm build enables it (`-C target-feature=+simd128`),
//! SSE on x86-64 (part of its baseline), plain arrays elsewhere. The kernels in `net.rs` are
//! written once on this type.
//!
//! `max`/`min` have the "pseudo" semantics of `f32x4.pmax`/`maxps` (`if b > a { b } else { a }`):
//! one instruction each, unlike `f32::max`'s NaN handling.

/// Four f32 lanes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct F4(Imp);

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;
    pub(super) type Imp = v128;

    #[inline(always)]
    pub(super) fn splat(v: f32) -> Imp {
        f32x4_splat(v)
    }
    #[inline(always)]
    pub(super) fn load(s: &[f32; 4]) -> Imp {
        // SAFETY: `s` is 16 readable bytes; v128_load has no alignment requirement.
        unsafe { v128_load(s.as_ptr() as *const v128) }
    }
    #[inline(always)]
    pub(super) fn store(v: Imp, s: &mut [f32; 4]) {
        // SAFETY: `s` is 16 writable bytes; v128_store has no alignment requirement.
        unsafe { v128_store(s.as_mut_ptr() as *mut v128, v) }
    }
    #[inline(always)]
    pub(super) fn add(a: Imp, b: Imp) -> Imp {
        f32x4_add(a, b)
    }
    #[inline(always)]
    pub(super) fn mul(a: Imp, b: Imp) -> Imp {
        f32x4_mul(a, b)
    }
    #[inline(always)]
    pub(super) fn max(a: Imp, b: Imp) -> Imp {
        f32x4_pmax(a, b)
    }
    #[inline(always)]
    pub(super) fn min(a: Imp, b: Imp) -> Imp {
        f32x4_pmin(a, b)
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use core::arch::x86_64::*;
    pub(super) type Imp = __m128;

    // SAFETY (all below): SSE is part of the x86-64 baseline, so the intrinsics are always
    // available; loads and stores go through 16-byte arrays and are unaligned.
    #[inline(always)]
    pub(super) fn splat(v: f32) -> Imp {
        unsafe { _mm_set1_ps(v) }
    }
    #[inline(always)]
    pub(super) fn load(s: &[f32; 4]) -> Imp {
        unsafe { _mm_loadu_ps(s.as_ptr()) }
    }
    #[inline(always)]
    pub(super) fn store(v: Imp, s: &mut [f32; 4]) {
        unsafe { _mm_storeu_ps(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    pub(super) fn add(a: Imp, b: Imp) -> Imp {
        unsafe { _mm_add_ps(a, b) }
    }
    #[inline(always)]
    pub(super) fn mul(a: Imp, b: Imp) -> Imp {
        unsafe { _mm_mul_ps(a, b) }
    }
    #[inline(always)]
    pub(super) fn max(a: Imp, b: Imp) -> Imp {
        // maxps(b, a) returns a when the comparison b > a fails: `if b > a { b } else { a }`.
        unsafe { _mm_max_ps(b, a) }
    }
    #[inline(always)]
    pub(super) fn min(a: Imp, b: Imp) -> Imp {
        unsafe { _mm_min_ps(b, a) }
    }
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
mod imp {
    pub(super) type Imp = [f32; 4];

    #[inline(always)]
    pub(super) fn splat(v: f32) -> Imp {
        [v; 4]
    }
    #[inline(always)]
    pub(super) fn load(s: &[f32; 4]) -> Imp {
        *s
    }
    #[inline(always)]
    pub(super) fn store(v: Imp, s: &mut [f32; 4]) {
        *s = v;
    }
    #[inline(always)]
    pub(super) fn add(a: Imp, b: Imp) -> Imp {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    pub(super) fn mul(a: Imp, b: Imp) -> Imp {
        std::array::from_fn(|i| a[i] * b[i])
    }
    #[inline(always)]
    pub(super) fn max(a: Imp, b: Imp) -> Imp {
        std::array::from_fn(|i| if b[i] > a[i] { b[i] } else { a[i] })
    }
    #[inline(always)]
    pub(super) fn min(a: Imp, b: Imp) -> Imp {
        std::array::from_fn(|i| if b[i] < a[i] { b[i] } else { a[i] })
    }
}

use imp::Imp;

/// The first four values of `s` as an array reference (callers slice exact chunks, so the
/// length check folds away).
#[inline(always)]
fn four(s: &[f32]) -> &[f32; 4] {
    match s.first_chunk::<4>() {
        Some(c) => c,
        None => &[0.0; 4],
    }
}

impl F4 {
    #[inline(always)]
    pub(crate) fn splat(v: f32) -> F4 {
        F4(imp::splat(v))
    }
    /// Lanes from the first four values of `s` (zeros if `s` is shorter; callers never are).
    #[inline(always)]
    pub(crate) fn load(s: &[f32]) -> F4 {
        F4(imp::load(four(s)))
    }
    /// Writes the lanes to the first four values of `s` (nothing if `s` is shorter).
    #[inline(always)]
    pub(crate) fn store(self, s: &mut [f32]) {
        if let Some(c) = s.first_chunk_mut::<4>() {
            imp::store(self.0, c);
        }
    }
    #[inline(always)]
    pub(crate) fn add(self, o: F4) -> F4 {
        F4(imp::add(self.0, o.0))
    }
    #[inline(always)]
    pub(crate) fn mul(self, o: F4) -> F4 {
        F4(imp::mul(self.0, o.0))
    }
    /// `self + a · b`.
    #[inline(always)]
    pub(crate) fn mul_add(self, a: F4, b: F4) -> F4 {
        F4(imp::add(self.0, imp::mul(a.0, b.0)))
    }
    #[inline(always)]
    pub(crate) fn max(self, o: F4) -> F4 {
        F4(imp::max(self.0, o.0))
    }
    #[inline(always)]
    pub(crate) fn min(self, o: F4) -> F4 {
        F4(imp::min(self.0, o.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_compute_elementwise() {
        let (a, b) = (
            F4::load(&[1.0, -2.0, 3.0, -4.0]),
            F4::load(&[0.5, 0.5, -1.0, 2.0]),
        );
        let mut out = [0f32; 4];
        a.mul_add(b, F4::splat(2.0)).store(&mut out);
        assert_eq!(out, [2.0, -1.0, 1.0, 0.0]);
        a.max(F4::splat(0.0)).store(&mut out);
        assert_eq!(out, [1.0, 0.0, 3.0, 0.0]);
        a.min(F4::splat(0.0))
            .add(b)
            .mul(F4::splat(2.0))
            .store(&mut out);
        assert_eq!(out, [1.0, -3.0, -2.0, -4.0]);
    }
}
