//! Profiles: TOML files of controls and waivers, from the built-in directory and the drop-in
//! directory, validated with a position for every problem and merged into one [`ProfileSet`].

#![forbid(unsafe_code)]

pub mod last_good;
mod load;
mod model;
mod parse;
pub mod reader;
mod validate;

pub use load::{load, load_with_texts, validate_files, Loaded, ProfileSources, ProfileTexts};
pub use model::{Component, Control, Policy, ProfileFile, ProfileSet, Waiver};
pub use parse::parse_file;
pub use validate::check_sources;
