//! Three interleaved AVX-512 streams: 48 attempts per batch (see [`streams`](super::streams)).

super::streams::define_streams_kernel!(Avx512x3Job, [0, 1, 2]);
