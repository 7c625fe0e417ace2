//! TEMPORARY stub, replaced by exact ports of Redis's numeric helpers.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    crate::protocol::parse::strict_i64(s)
}
pub fn d2string(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d < 0.0 {
            "-inf".into()
        } else {
            "inf".into()
        }
    } else if d == d.trunc() && d.abs() < 4503599627370496.0 {
        format!("{}", d as i64)
    } else {
        format!("{d}")
    }
}
