//! The page's Yew components, one a file. Screens take plain props (locale, data, callbacks) so
//! tests can mount each one alone; [`screen_view::ScreenView`] picks the screen for a state and
//! [`app::App`] runs the effects.

pub mod app;
pub mod camera_select;
pub mod capture;
pub mod declined;
pub mod guidance_panel;
pub mod hooks;
pub mod intro;
pub mod outcome;
pub mod problem_dialog;
pub mod screen_view;
pub mod status_screen;
pub mod upload_progress;
