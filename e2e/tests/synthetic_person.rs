//! The harness's synthetic person (not the product): the picture it sends responds to the colour the
//! page shows, strongly on the face and weakly on the background, as the reflection decoder expects.
//! If this fails, the genuine-person scenario would fail for the harness's reasons, not the product's.

use std::time::Duration;

use faceid_e2e::browser::{Browser, CameraSetup};
use faceid_e2e::business::BusinessSite;
use faceid_e2e::person::Person;
use serde_json::{json, Value};

/// Reads the camera through getUserMedia after painting a `canvas.fid-flash` overlay `colour`, and returns the mean
/// sRGB colour of the face centre and of a background corner.
const MEASURE: &str = r#"
const [colour, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  // Like the page's flash overlay: a canvas painted with the colour.
  let flash = document.querySelector("canvas.fid-flash");
  if (!flash) {
    flash = document.createElement("canvas");
    flash.className = "fid-flash";
    flash.width = 64; flash.height = 64;
    document.body.appendChild(flash);
  }
  const fx = flash.getContext("2d");
  fx.fillStyle = colour;
  fx.fillRect(0, 0, 64, 64);
  if (!window.__stream) {
    window.__stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    const v = document.createElement("video");
    v.muted = true; v.playsInline = true; v.srcObject = window.__stream;
    document.body.appendChild(v);
    await v.play();
    window.__video = v;
  }
  await new Promise((r) => setTimeout(r, 400));
  const v = window.__video;
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const x = c.getContext("2d");
  x.drawImage(v, 0, 0);
  const mean = (x0, y0, w, h) => {
    const d = x.getImageData(x0, y0, w, h).data;
    const m = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) { m[0] += d[i]; m[1] += d[i + 1]; m[2] += d[i + 2]; }
    const n = d.length / 4;
    return m.map((s) => s / n);
  };
  const W = c.width, H = c.height;
  done({ width: W, height: H, face: mean(W * 0.46, H * 0.42, W * 0.08, H * 0.08), background: mean(0, 0, W * 0.12, H * 0.12),
         frames: window.__faceidPerson.frames });
})().catch((e) => done({ error: String(e) }));
"#;

fn ratio(v: &Value, region: &str) -> f64 {
    let c = &v[region];
    let (r, b) = (c[0].as_f64().unwrap(), c[2].as_f64().unwrap());
    b / r.max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_person_reflects_the_screen_colour_on_the_face() {
    let _serial = faceid_e2e::serial().await;
    let site = BusinessSite::start().await.unwrap();
    let browser = Browser::start(&CameraSetup::SyntheticPerson).await.unwrap();
    browser
        .add_init_script(&Person::astronaut_from_shared().unwrap().script().unwrap())
        .await
        .unwrap();
    browser.client().goto(&site.return_url()).await.unwrap();

    let measure = |colour: &'static str| {
        let client = browser.client().clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(30),
                client.execute_async(MEASURE, vec![json!(colour)]),
            )
            .await
            .unwrap()
            .unwrap()
        }
    };
    let white = measure("#ffffff").await;
    assert!(white.get("error").is_none(), "{white}");
    assert_eq!(
        (white["width"].as_u64(), white["height"].as_u64()),
        (Some(640), Some(480))
    );
    let blue = measure("#0000ff").await;
    let yellow = measure("#ffff00").await;
    println!("white {white}\nblue {blue}\nyellow {yellow}");

    // Blue light raises blue against red on the face; yellow light lowers it.
    let face_shift = ratio(&blue, "face") / ratio(&yellow, "face");
    let background_shift = ratio(&blue, "background") / ratio(&yellow, "background");
    println!("blue/yellow shift of B/R: face {face_shift:.3}, background {background_shift:.3}");
    assert!(face_shift > 1.15, "the face barely responds: {face_shift}");
    assert!(
        background_shift < face_shift,
        "the background responds as much as the face"
    );
    assert!(blue["frames"].as_u64().unwrap() > 10);
    browser.close().await;
}
