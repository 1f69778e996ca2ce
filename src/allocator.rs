//! The global allocator: mimalloc, called the way a C program calls it.
//!
//! mimalloc rather than glibc's malloc: a request makes a dozen small allocations, and
//! mimalloc's per-thread free lists serve them in fewer instructions (about 1k fewer per
//! small request). Built with `no_thp`: asking for transparent huge pages on its arenas
//! made 6 MiB resident at start; without, resident size stays about glibc's.
//!
//! Not the `mimalloc` crate's allocator, which passes every allocation to
//! `mi_malloc_aligned` with Rust's alignment. Nearly every alignment Rust asks for is at
//! most 8, which plain `mi_malloc` guarantees (every block is a whole number of words);
//! but mimalloc 3's aligned entry point takes its fast path only for blocks of at most
//! 1 KiB, and a larger block whose size class is not a power of two (a request's boxed
//! future, 3 KiB) goes to its over-allocating fallback: callgrind counted about 300
//! instructions a request there. Plain calls for what plain calls guarantee, aligned
//! ones for the rest, as Rust's own `System` allocator does with glibc.

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};
use std::alloc::{GlobalAlloc, Layout};

/// The alignment every `mi_malloc` block has: a word. (Not 16, `max_align_t`: blocks
/// of 24 or 40 bytes sit at multiples of their size.)
const MIN_ALIGN: usize = std::mem::size_of::<usize>();

/// Whether plain `mi_malloc` is aligned enough for `align`.
#[inline]
fn plain(align: usize) -> bool {
    align <= MIN_ALIGN
}

/// mimalloc as Rust's global allocator.
pub struct Allocator;

// SAFETY: every block comes from mimalloc with at least the alignment asked for (see
// `plain`; a resized block keeps its alignment), and is freed or resized by mimalloc, which accepts any of its blocks in
// `mi_free` and `mi_realloc*` whichever entry point allocated it.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align()) {
            mi_malloc(layout.size()).cast()
        } else {
            mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain(layout.align()) {
            mi_zalloc(layout.size()).cast()
        } else {
            mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi_free(ptr.cast());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain(layout.align()) {
            mi_realloc(ptr.cast(), new_size).cast()
        } else {
            mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of every size and alignment Rust asks for come back aligned, keep their
    /// bytes across a resize (whichever entry point each step takes), and are freed.
    #[test]
    fn blocks_are_aligned_and_keep_their_bytes() {
        let a = Allocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 3, 8, 15, 16, 24, 100, 1024, 3000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero-size layout; the block is written within its size,
                // resized with the same alignment and freed once, with its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    std::ptr::write_bytes(p, 0xa5, size);
                    let grown = a.realloc(p, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "grown {size} align {align}");
                    assert!((0..size).all(|i| *grown.add(i) == 0xa5));
                    let grown_layout = Layout::from_size_align(size * 3, align).unwrap();
                    a.dealloc(grown, grown_layout);
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
