use sig_core::*;
fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (b, l, d, n, f32mode) = (args[0], args[1], args[2], args[3], args[4]);
    let reps = 10;
    let mut state = 1u64;
    let p: Vec<f64> = (0..b * l * d).map(|_| { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.1 }).collect();
    let shape = PathShape::new(b, l, d);
    let len = sig_length(d, n, false).unwrap();
    let mut best = f64::MAX;
    if f32mode == 1 {
        let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        let mut out = vec![0f32; b * len];
        for _ in 0..reps { let t = std::time::Instant::now(); sig(&p32, shape, n, PathTransform::NONE, false, 1, &mut out).unwrap(); best = best.min(t.elapsed().as_secs_f64()); }
    } else {
        let mut out = vec![0f64; b * len];
        for _ in 0..reps { let t = std::time::Instant::now(); sig(&p, shape, n, PathTransform::NONE, false, 1, &mut out).unwrap(); best = best.min(t.elapsed().as_secs_f64()); }
    }
    let steps = (b * (l - 1)) as f64;
    println!("best {:.1} ms; {:.1} ns/step", best * 1e3, best * 1e9 / steps);
}
