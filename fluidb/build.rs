//! Build script: compiles the small C helper that gives fluidB access to the
//! C `long double` type (used by INCRBYFLOAT / HINCRBYFLOAT, as in Redis 7.0).

fn main() {
    println!("cargo:rerun-if-changed=csrc/ldouble.c");
    cc::Build::new()
        .file("csrc/ldouble.c")
        .warnings(true)
        // Floating point must behave exactly like Redis's own build: no
        // fast-math style reassociation or contraction.
        .flag_if_supported("-ffp-contract=off")
        .compile("fluidb_ldouble");
}
