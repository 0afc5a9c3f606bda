//! A small SVG line chart of one test's numeric results over time.

use medseal_core::record::TestResults;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct Props {
    pub test: TestResults,
}

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 120.0;
const PAD: f64 = 24.0;

/// Points of the chart in SVG coordinates, oldest on the left; `None` if fewer than two
/// measurements have numbers.
#[must_use]
pub fn points(test: &TestResults) -> Option<Vec<(f64, f64, f64)>> {
    let values: Vec<f64> = test.measurements.iter().filter_map(|m| m.value).collect();
    if values.len() < 2 {
        return None;
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if (max - min).abs() < f64::EPSILON {
        1.0
    } else {
        max - min
    };
    let step = (WIDTH - 2.0 * PAD) / (values.len() - 1) as f64;
    Some(
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    PAD + step * i as f64,
                    HEIGHT - PAD - (v - min) / span * (HEIGHT - 2.0 * PAD),
                    *v,
                )
            })
            .collect(),
    )
}

#[function_component(TrendChart)]
pub fn trend_chart(props: &Props) -> Html {
    let Some(points) = points(&props.test) else {
        return html! {};
    };
    let line: String = points
        .iter()
        .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let dated: Vec<_> = props
        .test
        .measurements
        .iter()
        .filter(|m| m.value.is_some())
        .collect();
    let first = dated.first().map(|m| m.date.clone()).unwrap_or_default();
    let last = dated.last().map(|m| m.date.clone()).unwrap_or_default();
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.2), hi.max(p.2))
        });
    let label = format!(
        "Trend of {}: {} measurements from {first} to {last}, between {lo} and {hi} {}",
        props.test.name,
        points.len(),
        props.test.unit
    );
    html! {
        <svg class="trend" data-testid="trend-chart" viewBox={format!("0 0 {WIDTH} {HEIGHT}")} role="img" aria-label={label.clone()}>
            <title>{ label }</title>
            <line x1={PAD.to_string()} y1={(HEIGHT - PAD).to_string()} x2={(WIDTH - PAD).to_string()} y2={(HEIGHT - PAD).to_string()} class="axis" />
            <polyline points={line} class="series" />
            { for points.iter().map(|(x, y, v)| html! {
                <circle cx={format!("{x:.1}")} cy={format!("{y:.1}")} r="3" class="point"><title>{ v.to_string() }</title></circle>
            }) }
            <text x={PAD.to_string()} y={(HEIGHT - 6.0).to_string()} class="tick">{ first }</text>
            <text x={(WIDTH - PAD).to_string()} y={(HEIGHT - 6.0).to_string()} class="tick end">{ last }</text>
            <text x="2" y="14" class="tick">{ format!("{hi}") }</text>
            <text x="2" y={(HEIGHT - PAD).to_string()} class="tick">{ format!("{lo}") }</text>
        </svg>
    }
}
