//! Link flags for the shim, which the dynamic loader maps into every
//! process it is preloaded into (issue 20: its load cost is paid by each).

fn main() {
    // No C start files (crti, crtbeginS, crtendS): they bring `_init`,
    // `_fini`, a destructor list and four weak symbols (`__gmon_start__`,
    // `__cxa_finalize`, two `_ITM_` ones) that the loader would look up in
    // every process for nothing. The constructor is in `.init_array`.
    println!("cargo::rustc-cdylib-link-arg=-nostartfiles");
    // Never unloaded, even if someone dlopen()s and dlclose()s it: glibc
    // keeps its fork handlers (`shared`), so its code must stay mapped.
    println!("cargo::rustc-cdylib-link-arg=-Wl,-z,nodelete");
    // libc itself, last on the line (after `mptcpize-mem`, whose memcpy &
    // co. must win): a workspace build turns on the libc crate's `std`
    // feature (for the launcher), which leaves linking libc to std, and the
    // no_std shim would be linked without naming libc.so.6, with
    // unversioned imports, unlike the shipped `-p mptcpize-preload` build.
    println!("cargo::rustc-cdylib-link-arg=-lc");
    println!("cargo::rerun-if-changed=build.rs");
}
