//! Two interleaved AVX-512 streams: 32 attempts per batch (see [`streams`](super::streams)).

super::streams::define_streams_kernel!(Avx512x2Job, [0, 1]);
