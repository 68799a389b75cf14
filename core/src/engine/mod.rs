//! Face engine v2: BlazeFace detection and FaceMesh landmarks on our own inference ([`crate::nn`]).

pub mod models;
