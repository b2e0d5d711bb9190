//! Presentation shared by the summary and the live views: the DBZ flavour (`--serious` turns
//! it off).

/// The seed's power-level table, by requests per second.
pub fn power_level(rps: f64) -> &'static str {
    match rps {
        r if r > 9000.0 => "OVER 9000",
        r if r > 5000.0 => "Goku",
        r if r > 1000.0 => "Vegeta",
        r if r > 500.0 => "Piccolo",
        r if r > 100.0 => "Krillin",
        _ => "Farmer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_levels_follow_the_seed_table() {
        assert_eq!(power_level(0.0), "Farmer");
        assert_eq!(power_level(100.0), "Farmer");
        assert_eq!(power_level(101.0), "Krillin");
        assert_eq!(power_level(1000.0), "Piccolo");
        assert_eq!(power_level(5000.0), "Vegeta");
        assert_eq!(power_level(9000.0), "Goku");
        assert_eq!(power_level(9001.0), "OVER 9000");
    }
}
