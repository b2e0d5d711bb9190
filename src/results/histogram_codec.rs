//! Histograms in results: HdrHistogram V2 + DEFLATE, base64. The same encoding as the Java
//! and Go HdrHistogram libraries, so a result's histograms can be read by their tools, and
//! `compare`/`merge` work from files without loss.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use super::ResultsError;

pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializing into a Vec cannot fail");
    STANDARD.encode(buf)
}

pub fn decode(s: &str) -> Result<Histogram<u64>, ResultsError> {
    let bytes = STANDARD
        .decode(s)
        .map_err(|e| ResultsError::Histogram(format!("not base64: {e}")))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| ResultsError::Histogram(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip_is_identity(values in proptest::collection::vec(1u64..3_600_000_000, 0..200)) {
            let mut h = crate::record::new_histogram();
            for v in &values {
                h.record(*v).unwrap();
            }
            let back = decode(&encode(&h)).unwrap();
            prop_assert_eq!(back.len(), h.len());
            prop_assert_eq!(back.max(), h.max());
            prop_assert_eq!(back.value_at_quantile(0.99), h.value_at_quantile(0.99));
            prop_assert!(back == h);
        }
    }
}
