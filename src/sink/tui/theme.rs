//! Colour themes: six from the seed (cycled with `t`) and a neutral one for `--serious`.

use ratatui::style::Color;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub name: &'static str,
    pub accent: Color,
    pub text: Color,
    pub dim: Color,
    pub good: Color,
    pub warn: Color,
    pub bad: Color,
    pub chart: Color,
}

pub const THEMES: [Theme; 6] = [
    Theme {
        name: "Earth",
        accent: Color::Rgb(255, 140, 0),
        text: Color::White,
        dim: Color::Gray,
        good: Color::Green,
        warn: Color::Yellow,
        bad: Color::Red,
        chart: Color::Rgb(255, 180, 60),
    },
    Theme {
        name: "Namek",
        accent: Color::Rgb(80, 200, 120),
        text: Color::White,
        dim: Color::Gray,
        good: Color::LightGreen,
        warn: Color::Yellow,
        bad: Color::LightRed,
        chart: Color::Rgb(120, 220, 160),
    },
    Theme {
        name: "Planet Vegeta",
        accent: Color::Rgb(200, 40, 60),
        text: Color::White,
        dim: Color::Gray,
        good: Color::Green,
        warn: Color::Rgb(255, 200, 0),
        bad: Color::Red,
        chart: Color::Rgb(230, 80, 100),
    },
    Theme {
        name: "Time Chamber",
        accent: Color::Rgb(230, 230, 230),
        text: Color::White,
        dim: Color::DarkGray,
        good: Color::Cyan,
        warn: Color::Yellow,
        bad: Color::Magenta,
        chart: Color::Rgb(200, 200, 255),
    },
    Theme {
        name: "Tournament",
        accent: Color::Rgb(250, 210, 60),
        text: Color::White,
        dim: Color::Gray,
        good: Color::Green,
        warn: Color::Rgb(255, 150, 0),
        bad: Color::Red,
        chart: Color::Rgb(255, 230, 120),
    },
    Theme {
        name: "Frieza Force",
        accent: Color::Rgb(170, 90, 220),
        text: Color::White,
        dim: Color::Gray,
        good: Color::Rgb(120, 220, 200),
        warn: Color::Yellow,
        bad: Color::Rgb(255, 80, 160),
        chart: Color::Rgb(200, 140, 255),
    },
];

pub const NEUTRAL: Theme = Theme {
    name: "Neutral",
    accent: Color::Cyan,
    text: Color::Reset,
    dim: Color::Gray,
    good: Color::Green,
    warn: Color::Yellow,
    bad: Color::Red,
    chart: Color::Cyan,
};

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
