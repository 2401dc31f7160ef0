//! A benchmark report drawn as one SVG picture (`minichain bench --plot FILE.svg`):
//! people read a curve faster than a table.
//!
//! Two panels side by side:
//! - left, the effective attempts per second against difficulty (every per-block cost
//!   included), under a line through the peak measured beside each difficulty, so the
//!   overhead at low difficulty shows as the gap between the curve and the line;
//! - right, each kernel's one-thread rate over the chained `compress256` baseline (a bar
//!   per kernel, with the baseline at 1.0), the figure the per-core targets are set in.
//!
//! Drawn with `plotters`' SVG backend: text is SVG text, so no font files or system
//! libraries are needed.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

use super::report::BenchReport;
use super::stats::ratio;
use crate::whole_file;

/// Why the picture could not be drawn or written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The report has nothing to draw in a panel (no difficulty rows, no kernels).
    #[error("nothing to plot: the report has no {0}")]
    Empty(&'static str),
    /// A file that is not a picture is where the picture would go (see
    /// [`check_target`]).
    #[error("{0} exists and is not an SVG picture: name a new file, or an SVG to replace")]
    NotAPicture(String),
    /// The drawing library or the file write failed (the file's path is in the text).
    #[error("cannot draw {path}: {reason}")]
    Draw {
        /// The SVG file being written.
        path: String,
        /// The drawing library's words.
        reason: String,
    },
}

/// Size of the whole picture in pixels (two panels side by side).
const SIZE: (u32, u32) = (1100, 440);

const CURVE: RGBColor = RGBColor(31, 119, 180);
const PEAK: RGBColor = RGBColor(214, 39, 40);
const BAR: RGBColor = RGBColor(44, 160, 44);
const CHOSEN: RGBColor = RGBColor(255, 127, 14);

/// Draws `report` as an SVG file at `path` (see the module doc for what it shows).
///
/// The picture is drawn in memory first and the file written last, whole, in place of
/// a regular file only: a pipe, socket or device put at `path` while the benchmark ran
/// is refused instead of written (a pipe nobody reads would hold the run forever), so
/// is a file that is not a picture ([`check_target`]), and nothing is written when the
/// drawing fails.
pub fn write_svg(report: &BenchReport, path: &Path) -> Result<(), PlotError> {
    if report.by_difficulty.is_empty() {
        return Err(PlotError::Empty("difficulty rows"));
    }
    if report.kernels.is_empty() {
        return Err(PlotError::Empty("kernel rates"));
    }
    check_target(path)?;
    let svg = render_svg(report).map_err(|reason| PlotError::Draw {
        path: path.display().to_string(),
        reason,
    })?;
    write_regular_file(path, svg.as_bytes()).map_err(|e| PlotError::Draw {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The picture of `report` (which has rows in both panels) as SVG text, or the drawing
/// library's words on why not.
fn render_svg(report: &BenchReport) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(SIZE.0 * 11 / 20);
        difficulty_panel(report, &left).map_err(|e| e.to_string())?;
        kernel_panel(report, &right).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Writes `bytes` as the whole of the regular file at `path` (created if missing), in
/// one step ([`crate::whole_file`]): a run stopped while it writes leaves the old
/// picture whole.
fn write_regular_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    whole_file::replace(path, |file| file.write_all(bytes)).map_err(in_svg_words)
}

/// Whether the picture could be written at `path` ([`whole_file::check`]), asked before
/// the run that makes it rather than after.
///
/// # Errors
/// As [`write_svg`]'s write would fail.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    whole_file::check(path).map_err(in_svg_words)
}

/// `err` from [`whole_file`], in the words of a picture's path.
fn in_svg_words(err: std::io::Error) -> std::io::Error {
    if err.kind() == std::io::ErrorKind::InvalidInput {
        std::io::Error::other(
            "not a regular file (a directory, pipe, socket or device); name a file for the SVG",
        )
    } else {
        err
    }
}

/// Refuses a `--plot` path that holds something other than a picture: a file there
/// that is not empty and has no `<svg` tag in its first kilobyte (after an XML
/// declaration or a comment, say), such as a chain the user meant to keep, or a
/// node's store, is not replaced by the picture.
///
/// # Errors
/// [`PlotError::NotAPicture`] for such a file.
pub fn check_target(path: &Path) -> Result<(), PlotError> {
    use std::io::Read;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if !meta.is_file() || meta.len() == 0 {
        return Ok(());
    }
    let mut head = Vec::with_capacity(1024);
    let read = std::fs::File::open(path).and_then(|file| file.take(1024).read_to_end(&mut head));
    if read.is_ok() && memchr::memmem::find(&head, b"<svg").is_some() {
        Ok(())
    } else {
        Err(PlotError::NotAPicture(path.display().to_string()))
    }
}

type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Left panel: effective M attempts/s against difficulty, and the peak beside each.
fn difficulty_panel(report: &BenchReport, area: &DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult {
    let points: Vec<(u32, f64)> = report
        .by_difficulty
        .iter()
        .map(|row| (row.difficulty, row.attempts_per_s / 1e6))
        .collect();
    let peaks: Vec<(u32, f64)> = report
        .by_difficulty
        .iter()
        .map(|row| (row.difficulty, row.peak_attempts_per_s / 1e6))
        .collect();
    let threads = report.threads.last().map_or(1, |t| t.n);
    let lo = points.iter().map(|p| p.0).min().unwrap_or(0);
    let hi = points.iter().map(|p| p.0).max().unwrap_or(0).max(lo + 1);
    let top = points
        .iter()
        .chain(&peaks)
        .map(|p| p.1)
        .fold(1e-3, f64::max)
        * 1.15;
    let (low_peak, high_peak) = peaks.iter().fold((f64::MAX, 0.0f64), |(low, high), p| {
        (low.min(p.1), high.max(p.1))
    });

    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Effective rate by difficulty ({} kernel)", report.kernel),
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(lo..hi, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("difficulty (leading zero bits)")
        .y_desc("M attempts/s")
        .x_labels(points.len().min(16))
        .draw()?;
    // With one row, a flat line across the axis shows its peak.
    let peak_line = if peaks.len() == 1 {
        vec![(lo, peaks[0].1), (hi, peaks[0].1)]
    } else {
        peaks
    };
    chart
        .draw_series(LineSeries::new(peak_line, PEAK.stroke_width(2)))?
        .label(format!(
            "peak beside each, {threads} thread{} ({low_peak:.1}-{high_peak:.1} M/s)",
            if threads == 1 { "" } else { "s" }
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], PEAK.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            CURVE.stroke_width(2),
        ))?
        .label("effective, per-block costs included")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], CURVE.stroke_width(2)));
    chart.draw_series(
        points
            .iter()
            .map(|&(d, rate)| Circle::new((d, rate), 4, CURVE.filled())),
    )?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Right panel: each kernel's one-thread rate over the baseline, and the baseline.
fn kernel_panel(report: &BenchReport, area: &DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult {
    let baseline = report.baseline_compress_per_s;
    let bars: Vec<(String, f64)> = report
        .kernels
        .iter()
        .map(|k| (k.name.clone(), ratio(k.attempts_per_s, baseline)))
        .collect();
    let top = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.2;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();

    let mut chart = ChartBuilder::on(area)
        .caption("Kernels, 1 thread, over compress256", ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(48)
        // A segmented 0..k has k + 1 slots, one per bar.
        .build_cartesian_2d((0..bars.len() - 1).into_segmented(), 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("kernel (orange: the one mined with)")
        .y_desc("attempts/s ÷ baseline")
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .draw()?;
    for (i, (name, value)) in bars.iter().enumerate() {
        let color = if *name == report.kernel { CHOSEN } else { BAR };
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(color.filled())
                .margin(18)
                .data([(i, *value)]),
        )?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{value:.2}×"),
            (SegmentValue::CenterOf(i), *value + top * 0.01),
            TextStyle::from(("sans-serif", 14).into_font())
                .pos(Pos::new(HPos::Center, VPos::Bottom)),
        )))?;
    }
    chart
        .draw_series(LineSeries::new(
            [
                (SegmentValue::Exact(0), 1.0),
                (SegmentValue::Exact(bars.len() - 1), 1.0),
                (SegmentValue::Last, 1.0),
            ],
            BLACK.stroke_width(1),
        ))?
        .label("baseline = 1.0")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::miner::bench::report::{DifficultyRate, KernelRate, ThreadRate};

    fn report() -> BenchReport {
        BenchReport {
            baseline_compress_per_s: 20e6,
            threads: vec![
                ThreadRate {
                    n: 1,
                    attempts_per_s: 40e6,
                },
                ThreadRate {
                    n: 2,
                    attempts_per_s: 78e6,
                },
            ],
            ratio_per_core: 2.0,
            scaling: 1.95,
            round_spread: 0.02,
            round_spread_of: "baseline".into(),
            by_difficulty: [8, 12, 16]
                .into_iter()
                .map(|d| DifficultyRate {
                    difficulty: d,
                    blocks: 10,
                    secs_per_block: Some(0.1),
                    attempts_per_s: f64::from(d) * 4e6,
                    block_attempts_per_s: f64::from(d) * 3.6e6,
                    peak_attempts_per_s: 76e6 + f64::from(d) * 0.25e6,
                })
                .collect(),
            cancel_p50_us: 30.0,
            cancel_p99_us: 60.0,
            cancels: 100,
            kernel: "sha-ni".into(),
            low_difficulty_kernel: "sha-ni".into(),
            kernels: vec![
                KernelRate {
                    name: "portable".into(),
                    attempts_per_s: 19e6,
                },
                KernelRate {
                    name: "sha-ni".into(),
                    attempts_per_s: 40e6,
                },
            ],
        }
    }

    #[test]
    fn draws_both_panels_with_their_labels() {
        let dir = std::env::temp_dir().join(format!("minichain-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("bench.svg");
        write_svg(&report(), &path).expect("draws");
        let svg = std::fs::read_to_string(&path).expect("written");
        std::fs::remove_dir_all(&dir).ok();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for text in [
            "difficulty (leading zero bits)",
            "portable",
            "sha-ni",
            "2.00×",
            "0.95×",
            "peak beside each, 2 threads (78.0-80.0 M/s)",
        ] {
            assert!(svg.contains(text), "the picture lacks {text:?}");
        }
    }

    /// A pipe put where the picture goes (after the run's first check, so only the
    /// final write sees it) is refused at once, with no reader and with one, and
    /// nothing is written into it.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_pipe_at_the_path_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bench.svg");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let refused = |result: Result<(), PlotError>| {
            let err = result.expect_err("a pipe is refused").to_string();
            assert!(err.contains("not a regular file"), "{err}");
        };
        refused(write_svg(&report(), &path));
        // With a reader: the open succeeds, the handle's check refuses it.
        use std::os::unix::fs::OpenOptionsExt;
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&path)
            .expect("a reader opens the pipe");
        refused(write_svg(&report(), &path));
        let mut read = Vec::new();
        let _ = std::io::Read::read_to_end(&mut &reader, &mut read);
        assert!(read.is_empty(), "{} bytes went into the pipe", read.len());
    }

    /// A file that is not a picture (a chain, a store's header) is not replaced by the
    /// picture and stays as it was; an earlier picture and an empty file are replaced.
    #[test]
    fn only_a_picture_or_an_empty_file_is_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let chain = dir.path().join("chain.json");
        std::fs::write(&chain, "[{\"block_no\": 0}]").expect("writes");
        let pom = dir.path().join("pom.xml");
        std::fs::write(&pom, "<?xml version=\"1.0\"?><project/>").expect("writes");
        let store = dir.path().join("data.bin");
        std::fs::write(&store, b"redb\x1a\x0a\xa9\x0d\x0a rest of a store").expect("writes");
        for path in [&chain, &pom, &store] {
            let before = std::fs::read(path).expect("reads");
            let refused = write_svg(&report(), path).expect_err("not a picture");
            assert!(matches!(refused, PlotError::NotAPicture(_)), "{refused}");
            assert_eq!(
                std::fs::read(path).expect("reads"),
                before,
                "left as it was"
            );
        }
        let old = dir.path().join("old.svg");
        std::fs::write(&old, "<svg width=\"1\"></svg>").expect("writes");
        let declared = dir.path().join("declared.svg");
        std::fs::write(
            &declared,
            "\u{feff}<?xml version=\"1.0\"?>\n<!-- x -->\n<svg>",
        )
        .expect("writes");
        let empty = dir.path().join("empty.svg");
        std::fs::write(&empty, "").expect("writes");
        for path in [&old, &declared, &empty] {
            write_svg(&report(), path).expect("replaced");
            let svg = std::fs::read_to_string(path).expect("reads");
            assert!(svg.contains("sha-ni"), "the new picture");
        }
    }

    #[test]
    fn an_empty_report_is_refused() {
        let mut empty = report();
        empty.by_difficulty.clear();
        let path = std::env::temp_dir().join("minichain-plot-never-written.svg");
        assert!(matches!(
            write_svg(&empty, &path),
            Err(PlotError::Empty("difficulty rows"))
        ));
        assert!(!path.exists());
    }
}
