//! Every person-facing string of the page, one table per locale (zh-CN default, en).
//!
//! Result-code messages come from `faceid_core::ResultCode::message` and quality hints from
//! `faceid_core::quality::QualityHint::message`; this table holds the page's own words.

use faceid_core::Locale;

macro_rules! texts {
    ($( $field:ident: $zh:literal, $en:literal; )*) => {
        /// The page's own strings in one locale.
        #[derive(Debug, PartialEq, Eq)]
        pub struct Texts { $( pub $field: &'static str, )* }

        /// Simplified Chinese (the default).
        pub const ZH_CN: Texts = Texts { $( $field: $zh, )* };
        /// English.
        pub const EN: Texts = Texts { $( $field: $en, )* };

        impl Texts {
            /// Every entry as (name, text), for checks that cover the whole table.
            pub fn entries(&self) -> Vec<(&'static str, &'static str)> {
                vec![ $( (stringify!($field), self.$field), )* ]
            }
        }
    };
}

texts! {
    document_title: "人脸核身", "Face verification";
    loading_title: "正在加载…", "Loading…";
    loading_body: "正在读取验证信息，请稍候。", "Fetching your verification; one moment.";
    boot_failed_title: "网络连接失败", "Could not connect";
    boot_failed_body: "无法读取验证信息。请检查网络连接后重试。", "We could not fetch your verification. Check your connection and try again.";
    retry: "重试", "Retry";
    token_invalid_title: "链接无效", "This link is not valid";
    token_invalid_body: "该验证链接无效或不完整。请返回业务页面重新发起验证。", "This verification link is invalid or incomplete. Go back to the service and start the verification again.";
    token_finished_title: "验证已完成", "Already verified";
    token_expired_title: "链接已过期", "This link has expired";
    token_exhausted_title: "次数已用完", "No attempts left";
    intro_title: "人脸核身", "Verify it is you";
    intro_lead: "接下来需要使用前置摄像头确认是您本人在操作，全程约 10 秒：", "We will use your front camera to check that it is really you. It takes about 10 seconds:";
    intro_step_position: "正对屏幕，将脸放入椭圆框内", "Face the screen and put your face inside the oval";
    intro_step_hold: "保持不动，屏幕会变换几种颜色（约 3 秒）", "Hold still while the screen shows a few colours (about 3 seconds)";
    intro_step_upload: "视频上传后自动出结果", "The short video is uploaded and checked automatically";
    intro_step_hold_silent: "保持不动约 3 秒", "Hold still for about 3 seconds";
    flash_notice_title: "光敏提示", "Photosensitivity notice";
    flash_notice_body: "验证时屏幕会变换颜色（每秒不超过 3 次）。如果您对闪光敏感（例如患有光敏性癫痫），请不要继续，选择其他验证方式。", "During the check the screen changes colour (at most 3 times a second). If you are sensitive to flashing light (for example photosensitive epilepsy), do not continue; choose another way to verify.";
    decline: "我对闪光敏感，不继续", "I am sensitive to flashing light; do not continue";
    start: "开始验证", "Start";
    declined_title: "已停止验证", "Verification stopped";
    declined_body: "您选择了不进行闪光验证。请返回业务页面选择其他验证方式，或联系客服。", "You chose not to take the light check. Go back to the service to choose another way to verify, or contact its support.";
    back: "返回", "Back";
    back_to_service: "返回业务页面", "Back to the service";
    camera_starting_title: "正在打开摄像头…", "Opening the camera…";
    camera_starting_body: "如浏览器询问，请选择“允许”使用摄像头。", "If your browser asks, choose Allow to let this page use the camera.";
    camera_select_label: "摄像头", "Camera";
    camera_unnamed: "摄像头", "Camera";
    camera_denied_title: "无法使用摄像头", "Camera access is blocked";
    camera_denied_body: "请允许本页面使用摄像头：点击地址栏中的摄像头或锁形图标，选择“允许”；在微信中点击右上角“···”，在设置中允许使用摄像头；或在系统设置中为浏览器开启摄像头权限。然后点击重试。", "Allow this page to use the camera: tap the camera or padlock icon in the address bar and choose Allow; in WeChat tap \"···\" at the top right and allow the camera in its settings; or turn on camera access for your browser in the system settings. Then tap Retry.";
    camera_not_found_title: "未找到摄像头", "No camera found";
    camera_not_found_body: "未找到可用的摄像头。请确认设备有前置摄像头且未被系统禁用，或换一台设备。", "No usable camera was found. Check that your device has a front camera that is not switched off, or use another device.";
    camera_unsuitable_title: "摄像头不可用", "Camera not suitable";
    camera_unsuitable_body: "摄像头无法提供所需的视频。请更换浏览器或设备后重试。", "The camera cannot deliver the video we need. Try another browser or device.";
    camera_busy_title: "摄像头被占用", "The camera is busy";
    camera_busy_body: "摄像头正被其他应用使用。请关闭视频通话、相机等正在使用摄像头的应用后重试。", "Another app is using the camera. Close video calls, the camera app or anything else using it, then try again.";
    camera_unsupported_title: "当前环境无法使用摄像头", "The camera cannot be used here";
    camera_unsupported_body: "此页面需要通过 HTTPS 打开，并在支持摄像头的浏览器中使用。请复制链接到系统浏览器（Safari、Chrome）或最新版微信中打开。", "This page must be opened over HTTPS in a browser that supports the camera. Copy the link into the system browser (Safari, Chrome) or the latest WeChat.";
    camera_failed_title: "摄像头打开失败", "The camera did not start";
    camera_failed_body: "摄像头未能启动。请重试；如仍失败，请重启浏览器。", "The camera did not start. Try again; if it still fails, restart your browser.";
    guidance_title: "请将脸放入框内", "Put your face inside the oval";
    guidance_progress_label: "准备进度", "Getting ready";
    guidance_good: "很好，请保持不动", "Good, hold still";
    guidance_starting: "正在检测人脸…", "Looking for your face…";
    landscape_hint: "请将手机竖过来使用", "Turn your phone upright";
    slow_advice: "还没准备好？请到光线均匀明亮的地方，摘下帽子、口罩或墨镜，把手机举到与脸同高，距离约一臂。", "Not ready yet? Move to an evenly lit place, take off a hat, mask or sunglasses, and hold the phone at face height about an arm's length away.";
    face_lost_notice: "没有看到您的脸，已重新开始。请保持脸在框内。", "We lost sight of your face, so we started again. Keep your face inside the oval.";
    challenge_title: "请保持不动，注视屏幕", "Hold still and look at the screen";
    challenge_preparing: "正在准备…", "Getting ready…";
    recording_label: "正在录制", "Recording";
    uploading_title: "正在上传", "Uploading";
    uploading_body: "请勿关闭页面。", "Please keep this page open.";
    uploading_retrying: "网络不稳定，正在重试…", "The network is unstable; trying again…";
    uploading_offline: "网络已断开，恢复连接后将自动继续上传。", "You are offline. The upload continues when you are back online.";
    uploading_busy: "服务器繁忙，正在排队，稍后自动重新上传…", "The server is busy; your video is sent again in a moment…";
    passed_title: "验证通过", "Verification passed";
    redirecting: "即将返回业务页面…", "Taking you back to the service…";
    passed_done: "验证已完成。您可以关闭本页面，返回业务页面继续。", "You are done. You can close this page and return to the service.";
    continue_label: "继续", "Continue";
    failed_title: "验证未通过", "Verification not passed";
    try_again: "再试一次", "Try again";
    retries_left_prefix: "剩余次数：", "Attempts left: ";
    no_retries_body: "本次验证的次数已用完，请返回业务页面。", "There are no attempts left for this verification; go back to the service.";
    problem_title: "出现问题", "Something went wrong";
    interrupted_title: "验证被中断", "Verification interrupted";
    start_again: "重新开始", "Start again";
    code_prefix: "错误码 ", "Code ";
}

/// The table for `locale`.
pub fn texts(locale: Locale) -> &'static Texts {
    match locale {
        Locale::ZhCn => &ZH_CN,
        Locale::En => &EN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_translated() {
        let zh = ZH_CN.entries();
        let en = EN.entries();
        assert_eq!(zh.len(), en.len());
        for ((name, z), (_, e)) in zh.iter().zip(en.iter()) {
            assert!(!z.trim().is_empty(), "zh-CN {name} is empty");
            assert!(!e.trim().is_empty(), "en {name} is empty");
            // The one legitimate exception would be a brand name; there is none in this table.
            assert_ne!(z, e, "{name} is not translated");
        }
        assert_eq!(texts(Locale::default()), &ZH_CN);
        assert_eq!(texts(Locale::En), &EN);
    }
}
