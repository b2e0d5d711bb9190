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
