//! Whether the "turn your phone upright" hint applies: a pure decision from the viewport's
//! orientation and the kind of device, so it is tested natively. The browser detection lives in
//! `web::viewport`.

/// The viewport's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Orientation {
    #[default]
    Portrait,
    Landscape,
}

impl Orientation {
    /// Landscape when wider than tall (a square viewport counts as portrait).
    pub fn of_viewport(width: f64, height: f64) -> Orientation {
        if width > height {
            Orientation::Landscape
        } else {
            Orientation::Portrait
        }
    }
}

/// What the person holds: a phone or tablet can be turned upright, a desktop or laptop cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceKind {
    Handheld,
    #[default]
    Desktop,
}

/// User-agent tokens of phones and tablets (the fallback when the pointer media query does not
/// say the device is touch-primary, e.g. older WebViews).
const HANDHELD_UA_TOKENS: [&str; 6] = ["Mobi", "Android", "iPhone", "iPad", "iPod", "HarmonyOS"];

impl DeviceKind {
    /// A touch-primary device (`(pointer: coarse)` matches) is handheld; otherwise a mobile user
    /// agent decides.
    pub fn classify(coarse_pointer: bool, user_agent: &str) -> DeviceKind {
        if coarse_pointer
            || HANDHELD_UA_TOKENS
                .iter()
                .any(|token| user_agent.contains(token))
        {
            DeviceKind::Handheld
        } else {
            DeviceKind::Desktop
        }
    }
}

/// The hint is shown only to a phone or tablet held sideways: on a desktop, landscape is normal
/// and there is nothing to turn.
pub fn shows_landscape_hint(orientation: Orientation, device: DeviceKind) -> bool {
    orientation == Orientation::Landscape && device == DeviceKind::Handheld
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESKTOP_CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
    const MAC_SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
    const IPHONE_WECHAT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47";
    const ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

    #[test]
    fn only_a_handheld_device_held_sideways_gets_the_hint() {
        use DeviceKind::*;
        use Orientation::*;
        assert!(!shows_landscape_hint(Landscape, Desktop));
        assert!(!shows_landscape_hint(Portrait, Desktop));
        assert!(!shows_landscape_hint(Portrait, Handheld));
        assert!(shows_landscape_hint(Landscape, Handheld));
    }

    #[test]
    fn orientation_follows_the_viewport() {
        assert_eq!(
            Orientation::of_viewport(1280.0, 800.0),
            Orientation::Landscape
        );
        assert_eq!(
            Orientation::of_viewport(390.0, 844.0),
            Orientation::Portrait
        );
        assert_eq!(
            Orientation::of_viewport(600.0, 600.0),
            Orientation::Portrait
        );
    }

    #[test]
    fn device_kind_from_pointer_then_user_agent() {
        // A desktop browser with a mouse (the e2e desktop run: 1280x800, fine or no pointer).
        assert_eq!(
            DeviceKind::classify(false, DESKTOP_CHROME),
            DeviceKind::Desktop
        );
        assert_eq!(DeviceKind::classify(false, MAC_SAFARI), DeviceKind::Desktop);
        // An iPad in desktop mode reports a Mac user agent but a coarse pointer.
        assert_eq!(DeviceKind::classify(true, MAC_SAFARI), DeviceKind::Handheld);
        // Phones and tablets by user agent when the pointer query says nothing.
        assert_eq!(
            DeviceKind::classify(false, IPHONE_WECHAT),
            DeviceKind::Handheld
        );
        assert_eq!(
            DeviceKind::classify(false, ANDROID_TABLET),
            DeviceKind::Handheld
        );
        assert_eq!(DeviceKind::classify(false, ""), DeviceKind::Desktop);
    }
}
