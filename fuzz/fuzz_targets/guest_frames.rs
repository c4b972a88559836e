//! The host's reading of what a pod VM sends (the guest is not trusted): exec frames split at
//! any point decode to the same frames, each re-encodes to the bytes it came from, and the
//! guest's JSON answers parse or fail without panicking.
#![no_main]

use canopy_guest::protocol::{ContainerStatus, Frame, FrameDecoder, Ready};
use libfuzzer_sys::fuzz_target;

fn decode_all(chunks: &[&[u8]]) -> (Vec<Frame>, bool) {
    let mut decoder = FrameDecoder::default();
    let mut frames = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(1, |b| usize::from(*b % 17) + 1);
    let body = data.get(1..).unwrap_or_default();
    let (whole, whole_failed) = decode_all(&[body]);
    let pieces: Vec<&[u8]> = body.chunks(split).collect();
    let (split_frames, split_failed) = decode_all(&pieces);
    assert_eq!(whole_failed, split_failed);
    assert_eq!(whole, split_frames, "how the stream is cut does not change the frames");
    let encoded: Vec<u8> = whole.iter().flat_map(|f| f.encode().to_vec()).collect();
    if !whole_failed && !whole.iter().any(|f| matches!(f, Frame::Start(_))) {
        assert!(body.starts_with(&encoded), "frames re-encode to their bytes");
    }
    let _ = serde_json::from_slice::<ContainerStatus>(body);
    let _ = serde_json::from_slice::<Ready>(body);
});
