//! Reusable pieces of the pages.

pub mod document_view;
pub mod mask_diff;
pub mod qr;
pub mod record_view;
pub mod support;
pub mod trend_chart;
