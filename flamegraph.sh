#!/usr/bin/env bash
# flamegraph.sh: profile minichain with perf and render a flame graph SVG with inferno.
# Run `./flamegraph.sh --help` for usage.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: ./flamegraph.sh [-o FILE.svg] [-F HZ] [--no-build] [-- COMMAND [ARGS...]]

Profiles a command with `perf record -g` and renders a flame graph SVG with inferno.

  1. Builds minichain with the `profiling` Cargo profile (release optimisations plus
     full debug info) and frame pointers, so stacks and names are readable.
  2. Records COMMAND with `perf record -g`. Where the CPU's hardware counters are
     absent (most VMs), it falls back to the `cpu-clock` software event.
  3. Folds the stacks with `inferno-collapse-perf` and draws them with
     `inferno-flamegraph`; if those are missing it says so and runs
     `cargo install inferno --locked` first.
  4. Prints the SVG's path as the last line of its output.

COMMAND defaults to a short benchmark run:
    minichain bench --secs 0.5 --difficulties 16,20
A COMMAND whose first word is `minichain` runs the profiling build of minichain;
any other command runs as given, e.g.
    ./flamegraph.sh -- minichain mine --difficulty 26
    ./flamegraph.sh -o /tmp/mine.svg -F 1999 -- minichain bench --secs 1

Options:
  -o FILE.svg   where to write the SVG (default:
                $CARGO_TARGET_DIR or target, then flamegraph/minichain-DATE.svg)
  -F HZ         sampling frequency (default 997)
  --no-build    use the existing profiling build
  -h, --help    this text

Needs perf (Debian: apt-get install linux-perf) and permission to use it
(root, or kernel.perf_event_paranoid <= 2 for your own processes).
USAGE
}

cd "$(dirname "$0")"
target_dir="${CARGO_TARGET_DIR:-target}"
out=""
freq=997
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -o) out="${2:?-o needs a file name}"; shift 2 ;;
    -F) freq="${2:?-F needs a frequency}"; shift 2 ;;
    --no-build) build=0; shift ;;
    --) shift; break ;;
    *) echo "flamegraph.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ $# -eq 0 ]; then
  set -- minichain bench --secs 0.5 --difficulties 16,20
fi

command -v perf >/dev/null 2>&1 || {
  echo "flamegraph.sh: perf is missing (Debian: apt-get install linux-perf)" >&2
  exit 1
}
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v inferno-collapse-perf >/dev/null 2>&1 || ! command -v inferno-flamegraph >/dev/null 2>&1; then
  echo "flamegraph.sh: inferno-collapse-perf / inferno-flamegraph missing; running cargo install inferno --locked" >&2
  cargo install inferno --locked >&2
fi

if [ "$build" -eq 1 ]; then
  echo "flamegraph.sh: building minichain (profile: profiling, with frame pointers)" >&2
  RUSTFLAGS="${RUSTFLAGS:-} -C force-frame-pointers=yes" \
    cargo build --profile profiling --bin minichain --target-dir "$target_dir/flamegraph-build" >&2
fi
binary="$target_dir/flamegraph-build/profiling/minichain"
if [ "$1" = "minichain" ]; then
  [ -x "$binary" ] || { echo "flamegraph.sh: $binary is missing (drop --no-build)" >&2; exit 1; }
  shift
  set -- "$binary" "$@"
fi

mkdir -p "$target_dir/flamegraph"
if [ -z "$out" ]; then
  out="$target_dir/flamegraph/minichain-$(date +%Y%m%d-%H%M%S).svg"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Hardware cycles where the CPU exposes them; the cpu-clock software event otherwise.
event=()
if ! perf record -q -e cycles -o "$work/probe.data" -- true >/dev/null 2>&1; then
  echo "flamegraph.sh: no hardware counters here; sampling the cpu-clock software event" >&2
  event=(-e cpu-clock)
fi

echo "flamegraph.sh: recording: $*" >&2
perf record -q -g -F "$freq" "${event[@]}" -o "$work/perf.data" -- "$@" >&2
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf > "$work/folded"
[ -s "$work/folded" ] || { echo "flamegraph.sh: perf recorded no samples" >&2; exit 1; }
inferno-flamegraph --title "minichain: $*" < "$work/folded" > "$out"
echo "flamegraph.sh: wrote the flame graph to:" >&2
echo "$out"
