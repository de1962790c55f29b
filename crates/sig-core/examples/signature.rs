//! Signatures and their gradients from Rust.
//!
//! Run with `cargo run --release -p sig-core --example signature`.

use sig_core::{sig, sig_backprop, sig_length, PathShape, PathTransform};

fn main() -> sig_core::Result<()> {
    // Two paths of 4 points in 2 dimensions, row-major (batch, length, dim).
    let paths = [
        0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, // a square's three sides
        0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.5, 1.5, // a straight line
    ];
    let shape = PathShape::new(2, 4, 2);
    let degree = 3;
    let transform = PathTransform::NONE;
    let len = sig_length(transform.out_dim(shape.dim), degree, false).expect("small");
    let mut sigs = vec![0.0; shape.batch * len];
    sig(&paths, shape, degree, transform, false, -1, &mut sigs)?;
    for (b, s) in sigs.chunks(len).enumerate() {
        // Level 2's antisymmetric part is the Levy area: zero for a line.
        let area = 0.5 * (s[2 + 1] - s[2 + 2]);
        println!("path {b}: level 1 = {:?}, Levy area = {area:.4}", &s[..2]);
    }

    // Gradient of F = sum of all signature terms with respect to the points.
    let ones = vec![1.0; sigs.len()];
    let mut grad = vec![0.0; paths.len()];
    sig_backprop(&paths, shape, degree, transform, &sigs, &ones, false, -1, &mut grad)?;
    println!("dF/dpath of the first path: {:?}", &grad[..8]);

    // With time augmentation and lead-lag, fused into the computation.
    let with_time = PathTransform { time_aug: true, lead_lag: true, end_time: 1.0 };
    let len = sig_length(with_time.out_dim(shape.dim), degree, true).expect("small");
    let mut out = vec![0.0; shape.batch * len];
    sig(&paths, shape, degree, with_time, true, 1, &mut out)?;
    println!("lead-lag + time signature length with the scalar term: {len}; first terms {:?}", &out[..4]);
    Ok(())
}
