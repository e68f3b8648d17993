#![cfg_attr(not(test), no_std)]
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { unsafe { libc::abort() } }

#[unsafe(no_mangle)]
pub extern "C" fn mptcpize_x() -> i32 { 1 }

#[cfg(test)]
mod t { #[test] fn a() { assert_eq!(super::mptcpize_x(), 1); } }
