//! A QR code of a link, drawn as SVG from the code's modules (no image, no HTML injection).

use qrcode::{Color, EcLevel, QrCode};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub text: String,
    pub label: String,
}

/// The SVG path of the dark modules, with a quiet zone of four modules; `None` if the text is
/// too long for a QR code. Error correction is level M, as the SMART Health Links
/// specification asks of its QR codes (and a good balance for any link on a screen or paper).
#[must_use]
pub fn qr_path(text: &str) -> Option<(usize, String)> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            path.push_str(&format!("M{} {}h1v1h-1z", i % width + 4, i / width + 4));
        }
    }
    Some((width + 8, path))
}

#[function_component(QrCodeView)]
pub fn qr_code_view(props: &Props) -> Html {
    let Some((size, path)) = qr_path(&props.text) else {
        return html! {};
    };
    html! {
        <svg class="qr" data-testid="qr-code" viewBox={format!("0 0 {size} {size}")} role="img" aria-label={props.label.clone()}
             shape-rendering="crispEdges">
            <rect width={size.to_string()} height={size.to_string()} fill="#fff" />
            <path d={path} fill="#000" />
        </svg>
    }
}
