//! Profiles: TOML files of controls and waivers, from the built-in directory and the drop-in
//! directory, validated with a position for every problem and merged into one [`ProfileSet`].

#![forbid(unsafe_code)]

mod load;
mod model;
mod parse;
pub mod reader;
mod validate;

pub use load::{load, validate_files, ProfileSources};
pub use model::{Component, Control, Policy, ProfileFile, ProfileSet, Waiver};
pub use parse::parse_file;
pub use validate::check_sources;
