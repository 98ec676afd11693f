// The migrations are embedded at compile time (`embed_migrations!` in
// src/db/mod.rs); without this, cargo does not rebuild when one is added.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
