//! Link flags for the shim, which the dynamic loader maps into every
//! process it is preloaded into (issue 20: its load cost is paid by each).

fn main() {
    // No C start files (crti, crtbeginS, crtendS): they bring `_init`,
    // `_fini`, a destructor list and four weak symbols (`__gmon_start__`,
    // `__cxa_finalize`, two `_ITM_` ones) that the loader would look up in
    // every process for nothing. The constructor is in `.init_array`.
    println!("cargo::rustc-cdylib-link-arg=-nostartfiles");
    // Never unloaded, even if someone dlopen()s and dlclose()s it: its fork
    // handlers (`shared`) must outlive nothing they point into.
    println!("cargo::rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo::rerun-if-changed=build.rs");
}
