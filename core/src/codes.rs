//! Result codes of PROTOCOL.md §3 and the locales people see them in.
//!
//! One enum shared by page and server; the person-facing messages for each code live in the two
//! locale tables below (zh-CN default, en).

/// The locale of every person-facing string. zh-CN is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Locale {
    #[default]
    #[cfg_attr(
        feature = "serde",
        serde(rename = "zh-CN", alias = "zh", alias = "zh-cn")
    )]
    ZhCn,
    #[cfg_attr(
        feature = "serde",
        serde(rename = "en", alias = "en-US", alias = "en-GB")
    )]
    En,
}

impl Locale {
    /// Parses a BCP-47-ish tag (`zh-CN`, `zh`, `en`, `en-US` …); anything else is None.
    pub fn parse(tag: &str) -> Option<Locale> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag == "zh" || tag.starts_with("zh-") || tag.starts_with("zh_") {
            Some(Locale::ZhCn)
        } else if tag == "en" || tag.starts_with("en-") || tag.starts_with("en_") {
            Some(Locale::En)
        } else {
            None
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }
}

macro_rules! result_codes {
    ($( $name:ident = $code:literal, $zh:literal, $en:literal; )*) => {
        /// A result code of PROTOCOL.md §3 (Text.ErrCode, LivenessDetail.Errcode, H5 errCode).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum ResultCode { $( $name = $code, )* }

        impl ResultCode {
            /// Every code, in table order.
            pub const ALL: &'static [ResultCode] = &[ $( ResultCode::$name, )* ];

            pub fn code(self) -> u32 { self as u32 }

            pub fn from_code(code: u32) -> Option<ResultCode> {
                match code { $( $code => Some(ResultCode::$name), )* _ => None }
            }

            /// The person-facing message in the given locale.
            pub fn message(self, locale: Locale) -> &'static str {
                match (self, locale) {
                    $( (ResultCode::$name, Locale::ZhCn) => $zh,
                       (ResultCode::$name, Locale::En) => $en, )*
                }
            }
        }
    };
}

result_codes! {
    Passed = 0, "验证通过", "Verification passed";
    // Not in PROTOCOL.md §3: FaceID's own code 4 "internal service error" (its list names 4, 8–11
    // so). The server answers it for its own faults (storage full, database or tools failing), so a
    // server fault is never worded as the person's liveness failing (1003) or their network (1008).
    InternalError = 4, "服务暂时出现故障，请稍后重试", "The service had a problem on its side; please try again later";
    TokenFinished = 14, "该验证已完成，请勿重复操作", "This verification has already been completed";
    TokenExpired = 15, "验证链接已过期，请返回重新发起", "This verification link has expired; please go back and start again";
    RetryLimit = 16, "重试次数已用完", "No attempts are left for this verification";
    FlowNotFinished = 17, "验证流程未完成", "The verification has not been finished";
    EngineTimeout = 1001, "活体检测超时，请重试", "Liveness check timed out; please try again";
    SuspectedNonLive = 1002, "疑似非活体，请本人正对屏幕重试", "We could not confirm a live person; face the screen yourself and try again";
    LivenessFailed = 1003, "活体检测未通过，请重试", "Liveness check failed; please try again";
    NetworkUnstable = 1008, "网络不稳定，上传失败，请检查网络后重试", "The network is unstable and the upload failed; check your connection and try again";
    FaceNotFullyVisible = 1102, "请保持完整人脸在框内", "Keep your whole face inside the frame";
    VideoUndecodable = 1104, "视频格式不支持或无法解码", "The video format is not supported or cannot be decoded";
    VideoEmptyOrTooLarge = 1107, "视频为空或过大", "The video is empty or too large";
    VideoResolutionTooLow = 1108, "视频分辨率过低", "The video resolution is too low";
    TooDark = 1201, "光线太暗，请到明亮处", "It is too dark; move somewhere brighter";
    // Also the light challenge's answer when the screen's colours cannot be told on the face against
    // the room's light (issue #9): the person can act on it, unlike a refusal.
    TooBright = 1202, "周围光线太强，屏幕的颜色照不到脸上：请远离窗户或强光灯，或把手机拿近一些后重试", "The light around you is too strong for the screen's colours to show on your face: move away from a window or bright lamp, or hold the phone a little closer, and try again";
    TooClose = 1203, "离屏幕太近，请稍微远离", "Too close; move a little further away";
    TooFar = 1204, "离屏幕太远，请靠近一些", "Too far; move a little closer";
    NoCompleteFace = 1210, "未检测到完整人脸", "No complete face was detected";
    RecordingTooShort = 1303, "录制时间太短", "The recording was too short";
    RateLimited = 2018, "操作过于频繁，请稍后再试", "Too many attempts; please try again later";
    CannotRecord = 3001, "当前浏览器不支持录制视频，请更换浏览器（如系统浏览器或微信最新版）", "This browser cannot record video; please use another browser (the system browser or the latest WeChat)";
    Interrupted = 3003, "验证被中断（页面切换或摄像头断开），请重新开始", "The verification was interrupted (page hidden or camera lost); please start again";
    NoCameraPermission = 3004, "未获得摄像头权限，请在设置中允许访问摄像头后重试", "Camera permission was not granted; allow camera access in your settings and try again";
    RealtimeUnsupported = 3005, "当前环境不支持实时检测，请使用 HTTPS 链接并在系统浏览器或微信中打开", "Real-time checks are not supported here; open the HTTPS link in the system browser or WeChat";
}

impl ResultCode {
    pub fn is_pass(self) -> bool {
        self == ResultCode::Passed
    }
}

impl std::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code(), self.message(Locale::En))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ResultCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ResultCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <u32 as serde::Deserialize>::deserialize(d)?;
        ResultCode::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown result code {code}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_every_code_has_both_messages() {
        for &c in ResultCode::ALL {
            assert_eq!(ResultCode::from_code(c.code()), Some(c));
            assert!(!c.message(Locale::ZhCn).is_empty());
            assert!(!c.message(Locale::En).is_empty());
            assert_ne!(c.message(Locale::ZhCn), c.message(Locale::En));
        }
        assert_eq!(ResultCode::from_code(9999), None);
        assert_eq!(ResultCode::SuspectedNonLive.code(), 1002);
    }

    #[test]
    fn locale_tags() {
        assert_eq!(Locale::parse("zh-CN"), Some(Locale::ZhCn));
        assert_eq!(Locale::parse("EN-us"), Some(Locale::En));
        assert_eq!(Locale::parse("fr"), None);
        assert_eq!(Locale::default(), Locale::ZhCn);
    }
}
